"""Shared integration fixtures: a real model trained once per session from scratch on synthetic parts, a small
real tmpfs to fill (the full-disk tests of the sender and the daemon), and a Chromium tab (the browser tests)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import ARTIFACTS, CHROMIUM
from helpers.ci import skip_unless_ci

CATEGORY = "brushed_metal"
SIZE = 64


@pytest.fixture()
def page() -> Iterator[Any]:
    """A Chromium tab driven by Playwright (the browser tests); JavaScript errors on the page fail the test.
    Screenshots go to ARTIFACTS (test-artifacts/browser/, or $EI_ARTIFACTS)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_unless_ci("the browser tests need playwright (pip install -e .[dev])")
    if not Path(CHROMIUM).exists():
        skip_unless_ci(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        browser.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, int]]:
    """(model_dir, category, frame size): a scratch autoencoder, 30 epochs (about a minute on 2 cores)."""
    if not os.environ.get("CI"):  # in CI torch is installed by .ci/run: an ImportError must fail, not skip
        pytest.importorskip("torch", reason="training the test model needs torch (pip install .[train])")
    from edge_inspector.synth import generate_dataset
    from edge_inspector.training.loop import train
    from edge_inspector.training.train_config import TrainConfig

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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs (CI runs as root, and root ignores permission bits, so a full disk is the real test).

    Where no tmpfs can be mounted (not root), the test is skipped, except in CI where that is a failure.
    """
    mount = tmp_path / "disk"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs here ({res.stderr.strip()}): the full-disk tests need root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
