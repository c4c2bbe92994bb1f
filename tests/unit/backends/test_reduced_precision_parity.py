"""Reduced precision checked on a *trained* model's real maps (issue 18 item 4), on the CPU in bf16.

The fp32 side is the real CPU TorchBackend; the bf16 side is the same checkpoint scored under torch's CPU bf16
autocast (a Backend whose score_batch differs only by the autocast). The decision is the one build-engine and
the torch-CUDA warm-up take (backends/precision_parity.py). Refusals come from real bf16 numbers: a threshold
set between a frame's fp32 and bf16 scores, and a tolerance below the largest measured score change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the trained model is a PyTorch checkpoint")

from edge_inspector.backends import BackendOptions  # noqa: E402
from edge_inspector.backends.precision_parity import check_frames, compare_precision  # noqa: E402
from edge_inspector.backends.torch_backend import TorchBackend  # noqa: E402
from edge_inspector.model.preprocess import preprocess  # noqa: E402
from edge_inspector.training.data import image_files, read_bgr  # noqa: E402


class Bf16Autocast(TorchBackend):
    """The CPU torch backend with the network under bf16 autocast (what training on bf16 CPUs does)."""

    @torch.inference_mode()
    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        assert self.model is not None
        x = torch.from_numpy(preprocess(chunk, self.metadata))
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            amap, score = self.model(x)
        return amap[:, 0].float().numpy(), score.float().numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> tuple[Path, Path]:
    """(model dir, data dir): a scratch autoencoder trained in fp32 on 24 synthetic parts, 8 epochs."""
    from edge_inspector.synth import generate_dataset
    from edge_inspector.training.loop import train
    from edge_inspector.training.train_config import TrainConfig

    root = tmp_path_factory.mktemp("precision")
    data = generate_dataset(root / "data", "brushed_metal", n_train=24, n_test_good=4, n_test_defect_per_type=1,
                            size=64, seed=0)
    cfg = TrainConfig(kind="scratch", input_size=64, encoder_layers=2, width=32, epochs=8, batch_size=8,
                      lr=1e-3, patience=100, seed=0, precision="fp32")
    return train(data.root, root / "model", cfg, progress=False).model_dir, data.root


@pytest.fixture(scope="module")
def pair(trained: tuple[Path, Path]) -> Iterator[tuple[TorchBackend, TorchBackend, list[np.ndarray]]]:
    model_dir, data = trained
    test_images = [read_bgr(p) for p in image_files(data / "test")][:8]
    assert test_images, f"no test images under {data}"
    fp32 = TorchBackend(model_dir, "cpu", BackendOptions(threads=1))
    bf16 = Bf16Autocast(model_dir, "cpu", BackendOptions(threads=1))
    yield fp32, bf16, check_frames(fp32.metadata, test_images)
    fp32.close()
    bf16.close()


def with_meta(backends: tuple[TorchBackend, TorchBackend], **changes: float) -> None:
    for b in backends:
        b.metadata = dataclasses.replace(b.metadata, **changes)


def test_bf16_keeps_the_trained_models_verdicts_at_its_calibrated_threshold(pair) -> None:  # type: ignore[no-untyped-def]
    fp32, bf16, frames = pair
    result = compare_precision(fp32, bf16, frames, "bf16")
    assert result.frames == len(frames) and result.threshold == fp32.metadata.image_threshold
    assert result.max_score_abs_diff > 0, "bf16 autocast did not change a single score: it did not run"
    print(result.summary())  # the measured numbers, for the record (pytest -s)
    assert result.ok, result.summary()


def test_a_threshold_between_a_frames_fp32_and_bf16_scores_refuses_bf16(pair) -> None:  # type: ignore[no-untyped-def]
    fp32, bf16, frames = pair
    want = np.array([fp32.infer([f])[0].score for f in frames])
    got = np.array([bf16.infer([f])[0].score for f in frames])
    i = int(np.argmax(np.abs(want - got)))
    assert want[i] != got[i]
    saved = fp32.metadata
    try:
        with_meta((fp32, bf16), image_threshold=float((want[i] + got[i]) / 2))
        result = compare_precision(fp32, bf16, frames, "bf16")
    finally:
        with_meta((fp32, bf16), image_threshold=saved.image_threshold)
    assert not result.ok and result.decision_flips >= 1
    assert "does not keep" in result.summary()


def test_a_score_change_beyond_the_stated_tolerance_refuses_bf16(pair) -> None:  # type: ignore[no-untyped-def]
    fp32, bf16, frames = pair
    loose = compare_precision(fp32, bf16, frames, "bf16", tolerance=1.0)
    # Threshold above every score: no verdict can flip, every frame gets the plain tolerance.
    top = max(fp32.infer([f])[0].score for f in frames) + 10.0
    saved = fp32.metadata
    try:
        with_meta((fp32, bf16), image_threshold=top, pixel_threshold=top)
        tight = compare_precision(fp32, bf16, frames, "bf16",
                                  tolerance=0.5 * loose.max_score_abs_diff / top)
        ample = compare_precision(fp32, bf16, frames, "bf16", tolerance=2.0 * loose.max_score_abs_diff / top)
    finally:
        with_meta((fp32, bf16), image_threshold=saved.image_threshold, pixel_threshold=saved.pixel_threshold)
    assert tight.decision_flips == 0 and not tight.ok and tight.worst_budget_use > 1.0
    assert ample.ok, ample.summary()
