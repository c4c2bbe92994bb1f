"""A real model for the integration tests: trained once per session from scratch on synthetic parts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CATEGORY = "brushed_metal"
SIZE = 64


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, int]]:
    """(model_dir, category, frame size): a scratch autoencoder, 30 epochs (about a minute on 2 cores)."""
    if not os.environ.get("CI"):  # in CI torch is installed by .ci/run: an ImportError must fail, not skip
        pytest.importorskip("torch", reason="training the test model needs torch (pip install .[train])")
    from edge_inspector.synth import generate_dataset
    from edge_inspector.training.loop import TrainConfig, train

    # EI_TEST_MODEL_CACHE=DIR (opt-in, local runs only): reuse the model an earlier session trained into DIR with
    # this same recipe, so that repeated runs on a loaded machine do not retrain it; CI never sets it.
    cache = os.environ.get("EI_TEST_MODEL_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("model")
    if cache and (root / "model" / "metadata.json").is_file() and (root / "data" / CATEGORY).is_dir():
        yield root / "model", CATEGORY, SIZE
        return
    data = generate_dataset(root / "data", CATEGORY, n_train=60, n_test_good=2, n_test_defect_per_type=1,
                            size=SIZE, seed=0)
    # A fixed number of epochs, not a time budget, and fp32 (bf16 autocast follows the CPU's bf16 units): the
    # same model on a busy or an idle machine, on any CI runner.
    cfg = TrainConfig(kind="scratch", input_size=SIZE, encoder_layers=2, width=64, epochs=30, batch_size=8,
                      lr=5e-4, patience=200, seed=0, precision="fp32")
    result = train(data.root, root / "model", cfg, progress=False)
    yield result.model_dir, CATEGORY, SIZE
