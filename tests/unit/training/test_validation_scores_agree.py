"""Issue 20: training's validation scores (the model's threshold comes from them) go through Backend.infer, the one
chunk-score-map-back loop of evaluate, calibrate and the daemon. The expected values come from TorchBackend on the
saved checkpoint, fed the whole frames the line would see (ROI and resizing done by the backend, not by training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need torch (pip install .[train])")

from edge_inspector.backends import BackendOptions, create_backend  # noqa: E402
from edge_inspector.backends.base import Backend  # noqa: E402
from edge_inspector.model.checkpoint import load_model  # noqa: E402
from edge_inspector.training.data import load_images, split_train_val  # noqa: E402
from edge_inspector.training.loop import train  # noqa: E402
from edge_inspector.training.train_config import TrainConfig, TrainResult  # noqa: E402
from edge_inspector.training.validation_scores import score_in_memory  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

N_IMAGES, FRAME, ROI, SEED, VAL_FRACTION = 12, 48, (4, 6, 40, 36), 3, 0.34  # 4 validation images


def textures(n: int, seed: int) -> list[np.ndarray]:
    """Smooth noise textures, BGR uint8 FRAME x FRAME, different for every image."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        low = rng.standard_normal((6, 6, 3)).astype(np.float32)
        img = 60.0 * cv2.resize(low, (FRAME, FRAME), interpolation=cv2.INTER_CUBIC) + 120.0
        out.append(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[np.ndarray], list[Path], list[Any]]:
    """A one-epoch scratch model with an ROI, trained while every Backend.infer call is recorded."""
    root = tmp_path_factory.mktemp("val_scores")
    frames = textures(N_IMAGES, SEED)
    files = []
    for i, frame in enumerate(frames):
        files.append(root / "data" / f"good_{i:03d}.png")
        files[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(files[-1]), frame)
    cfg = TrainConfig(kind="scratch", input_size=32, encoder_layers=1, width=16, epochs=1, batch_size=4, seed=SEED,
                      roi=ROI, precision="fp32", val_fraction=VAL_FRACTION)
    calls: list[tuple[str, int]] = []
    infer = Backend.infer

    def recording_infer(self: Backend, images: Any) -> Any:
        calls.append((type(self).__name__, len(images)))
        return infer(self, images)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Backend, "infer", recording_infer)
        result = train(root / "data", root / "model", cfg, progress=False)
    return result, frames, files, calls


def test_training_scores_its_validation_images_through_the_backend_loop(run: Any) -> None:
    result, _, _, calls = run
    n_val = result.metadata.train["n_val"]
    assert n_val == 4
    assert calls and {name for name, _ in calls} == {"TorchBackend"}, calls
    assert sum(n for _, n in calls) == n_val


def test_the_model_threshold_comes_from_the_backends_scores_on_the_saved_checkpoint(run: Any) -> None:
    result, frames, _, _ = run
    _, val = split_train_val(N_IMAGES, VAL_FRACTION, SEED)
    backend = create_backend("torch", result.model_dir, "cpu", BackendOptions(precision="fp32"))
    expected = np.asarray([out.score for out in backend.infer([frames[i] for i in val])], np.float64)
    stats = result.metadata.score_stats
    assert stats["n"] == len(val) == 4
    assert stats["max"] == pytest.approx(expected.max(), abs=1e-6)
    assert stats["p50"] == pytest.approx(float(np.median(expected)), abs=1e-6)
    assert stats["mean"] == pytest.approx(expected.mean(), abs=1e-6)
    assert result.metadata.score_stats["max"] <= result.metadata.image_threshold


def test_in_memory_scores_and_maps_agree_with_the_backend_to_1e_6(run: Any) -> None:
    result, frames, files, _ = run
    model, meta = load_model(result.model_dir, "cpu")
    scores, maps = score_in_memory(model, load_images(files, meta.input_size, meta.roi), meta, "cpu")
    expected = create_backend("torch", result.model_dir, "cpu", BackendOptions(precision="fp32")).infer(frames)
    assert scores.shape == (N_IMAGES,) and maps.shape == (N_IMAGES, 32, 32)
    np.testing.assert_allclose(scores, [out.score for out in expected], rtol=0, atol=1e-6)
    x, y, w, h = ROI
    for train_map, out in zip(maps, expected):  # the backend's map is at frame size, zero outside the ROI
        np.testing.assert_allclose(cv2.resize(train_map, (w, h), interpolation=cv2.INTER_LINEAR),
                                   out.map[y:y + h, x:x + w], rtol=0, atol=1e-6)
        assert not out.map[:y].any() and not out.map[:, :x].any()
