"""Short real training runs on tiny synthetic textures (CPU): the map localises a pasted defect, the model dir
round-trips through the torch backend, calibration is sane and seeds make runs repeatable."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need torch (pip install .[train])")

from edge_inspector.backends import create_backend  # noqa: E402
from edge_inspector.model.metadata import ModelMetadata  # noqa: E402
from edge_inspector.training.augment import augment_batch, crack_masks, simulate_anomalies  # noqa: E402
from edge_inspector.training.data import data_hash, good_image_files, is_grayscale, split_train_val  # noqa: E402
from edge_inspector.training.loop import train  # noqa: E402
from edge_inspector.training.lr_schedule import lr_factor  # noqa: E402
from edge_inspector.training.model_threshold import calibrate  # noqa: E402
from edge_inspector.training.train_config import TrainConfig, TrainResult  # noqa: E402

SIZE = 64


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A smooth multi-scale noise texture (BGR uint8), different for every call."""
    img = np.zeros((size, size, 3), np.float32)
    for cells, amp in ((4, 60.0), (8, 30.0), (32, 12.0)):
        low = rng.standard_normal((cells, cells, 3)).astype(np.float32)
        img += amp * cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(img * 0.5 + np.array([90, 120, 140], np.float32), 0, 255).astype(np.uint8)


def with_defect(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paste a disc of foreign striped texture; returns (image, bool mask)."""
    size = image.shape[0]
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(16, size - 16, 2)
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 < (size // 8) ** 2
    stripes = np.repeat((127 + 120 * np.sin(xx * 1.3 + yy * 0.4))[..., None], 3, axis=2).astype(np.uint8)
    out = image.copy()
    out[mask] = stripes[mask]
    return out, mask


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread


def write_good_images(folder: Path, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        cv2.imwrite(str(folder / f"good_{i:03d}.png"), texture(rng))
    return folder


def test_simulated_anomalies_are_masked_and_deterministic() -> None:
    x = torch.randn(6, 3, 32, 32)
    a1, m1 = simulate_anomalies(x, torch.Generator().manual_seed(1), p_anomaly=1.0)
    a2, m2 = simulate_anomalies(x, torch.Generator().manual_seed(1), p_anomaly=1.0)
    assert torch.equal(a1, a2) and torch.equal(m1, m2)
    assert set(m1.unique().tolist()) <= {0.0, 1.0}
    coverage = m1.flatten(1).mean(1)
    assert bool(((coverage > 0.002) & (coverage < 0.12)).all())
    assert torch.equal(a1 * (1 - m1), x * (1 - m1)), "nothing changes outside the mask"
    _, none = simulate_anomalies(x, torch.Generator().manual_seed(1), p_anomaly=0.0)
    assert float(none.sum()) == 0.0


def test_grayscale_data_gets_grey_anomalies_with_cracks() -> None:
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    grey = torch.rand(8, 1, 64, 64).expand(8, 3, 64, 64)
    x = (grey - mean) / std
    corrupted, masks = simulate_anomalies(x, torch.Generator().manual_seed(2), p_anomaly=1.0, gray_stats=(mean, std))
    pixels = corrupted * std + mean
    assert float((pixels - pixels.mean(1, keepdim=True)).abs().max()) < 1e-5, "colour leaked into grey data"
    assert float(masks.sum()) > 0 and torch.equal(corrupted * (1 - masks), x * (1 - masks))
    # Without gray_stats the same batch gets coloured foreign texture (the shortcut grey data must not get).
    coloured, m2 = simulate_anomalies(x, torch.Generator().manual_seed(2), p_anomaly=1.0)
    rgb = coloured * std + mean
    assert float(((rgb - rgb.mean(1, keepdim=True)).abs() * m2).max()) > 0.01
    cracks = crack_masks(4, 64, 64, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert 0 < float(cracks.mean()) < 0.02, "cracks are thin"


def test_grayscale_detection() -> None:
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 255, (4, 16, 16, 1), dtype=np.uint8), 3, axis=3)
    assert is_grayscale(grey)
    assert not is_grayscale(rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8))


def test_augmentation_is_off_by_default_and_shape_preserving() -> None:
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(augment_batch(x, torch.Generator().manual_seed(0)), x)
    y = augment_batch(x, torch.Generator().manual_seed(0), hflip=True, vflip=True, max_rotation=10)
    assert y.shape == x.shape and not torch.equal(x, y)


def test_data_listing_split_and_hash(tmp_path: Path) -> None:
    write_good_images(tmp_path / "cat" / "train" / "good" / "sub", 5)
    (tmp_path / "cat" / "train" / "good" / ".hidden.png").write_bytes(b"x")
    files = good_image_files(tmp_path / "cat")
    assert len(files) == 5 and files == sorted(files)
    assert len(data_hash(files)) == 16
    train_idx, val_idx = split_train_val(20, 0.15, seed=3)
    assert len(val_idx) == 3 and not set(train_idx) & set(val_idx)
    assert np.array_equal(split_train_val(20, 0.15, seed=3)[1], val_idx)
    with pytest.raises(ValueError, match="at least 4"):
        good_image_files(write_good_images(tmp_path / "few", 2))


def test_lr_schedule_holds_then_anneals_to_the_floor() -> None:
    assert lr_factor(0.0) == lr_factor(0.6) == 1.0
    assert lr_factor(0.8) == pytest.approx(0.02 + 0.98 * 0.5)
    assert lr_factor(1.0) == pytest.approx(0.02)
    assert lr_factor(5.0) == pytest.approx(0.02)  # past the budget (the last epoch overruns): stays at the floor
    values = [lr_factor(x / 100) for x in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_calibration_policy_on_good_scores() -> None:
    scores = np.linspace(0.1, 0.3, 50)
    cal = calibrate(scores, np.full((50, 8, 8), 0.05, np.float32), frr_target=0.02)
    # 50 images cannot support 2 % at 95 % (zero rejects in n needs 0.05 ** (1 / n) >= 0.98, n >= 149): the
    # highest good score plus 10 % of the spread to the median, 0.3 + 0.1 * (0.3 - 0.2)
    assert cal["image_threshold"] == pytest.approx(0.31, abs=1e-12)
    assert (scores >= cal["image_threshold"]).mean() == 0.0
    assert "at least 149 good images" in cal["calibration"]["warnings"][0]
    assert cal["pixel_threshold"] <= cal["image_threshold"]
    assert cal["score_stats"]["n"] == 50 and cal["calibration"]["frr_target"] == 0.02


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """~10 s on 2 CPU cores: scratch AE, ResNet-50 up to layer2, 64 px, 24 images, 15 epochs."""
    root = tmp_path_factory.mktemp("train")
    data = write_good_images(root / "data", 24)
    cfg = TrainConfig(kind="scratch", input_size=SIZE, encoder_layers=2, width=32, epochs=15, batch_size=8,
                      lr=1e-3, patience=100, seed=0, precision="fp32")
    return train(data, root / "model", cfg, progress=False)


def test_short_training_localises_a_pasted_defect(short_run: TrainResult) -> None:
    backend = create_backend("torch", short_run.model_dir, "cpu")
    rng = np.random.default_rng(123)
    inside, outside, scores = [], [], []
    for _ in range(3):
        image, mask = with_defect(rng, texture(rng))
        result = backend.infer([image])[0]
        assert result.map.shape == (SIZE, SIZE) and result.map.dtype == np.float32
        inside.append(float(result.map[mask].mean()))
        outside.append(float(result.map[~mask].mean()))
        scores.append(result.score)
    assert all(i > o for i, o in zip(inside, outside)), (inside, outside)
    good = backend.infer([texture(rng) for _ in range(3)])
    assert min(scores) > max(g.score for g in good), (scores, [g.score for g in good])


def test_training_writes_calibrated_metadata(short_run: TrainResult) -> None:
    meta = short_run.metadata
    assert (short_run.model_dir / "model.pt").is_file() and (short_run.model_dir / "metadata.json").is_file()
    assert meta.model_id.startswith("scratch-") and len(meta.model_id) == len("scratch-") + 8
    assert ModelMetadata.load(short_run.model_dir) == meta
    # The good validation images the threshold was computed on are not flagged.
    assert meta.score_stats["max"] <= meta.image_threshold
    assert meta.image_threshold < 1.0 and meta.pixel_threshold <= meta.image_threshold
    assert meta.train["n_train"] + meta.train["n_val"] == 24
    assert len(meta.train["data_hash"]) == 16
    assert {"python", "torch", "torchvision", "numpy", "edge_inspector"} <= set(meta.versions)
    assert "threshold" in short_run.summary()
    rows = (short_run.model_dir / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,val_loss" and len(rows) == 1 + len(short_run.history)
    assert (short_run.model_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_gives_the_same_losses(tmp_path: Path) -> None:
    data = write_good_images(tmp_path / "data", 8)
    cfg = TrainConfig(kind="scratch", input_size=32, encoder_layers=1, width=16, epochs=2, batch_size=4, seed=7)
    a = train(data, tmp_path / "a", cfg, progress=False)
    b = train(data, tmp_path / "b", cfg, progress=False)
    assert a.history == b.history
    assert a.metadata.train["final_train_loss"] == b.metadata.train["final_train_loss"]
    assert a.metadata.model_id == b.metadata.model_id


@pytest.mark.parametrize("kind", ["pixel", "feature"])
def test_other_kinds_train_and_load(kind: str, tmp_path: Path) -> None:
    data = write_good_images(tmp_path / "data", 8)
    weights = None
    if kind == "feature":  # random "ImageNet" weights: real use needs the real file
        from torchvision.models import resnet50

        weights = tmp_path / "resnet50.pth"
        torch.save(resnet50(weights=None).state_dict(), weights)
    cfg = TrainConfig(kind=kind, input_size=32, encoder_layers=2, width=16, epochs=1, batch_size=4,
                      backbone_weights=weights)
    result = train(data, tmp_path / "model", cfg, progress=False)
    out = create_backend("torch", result.model_dir, "cpu").infer([texture(np.random.default_rng(1), 48)])
    assert out[0].map.shape == (48, 48) and np.isfinite(out[0].score)
    assert result.metadata.kind == kind


def test_progress_bar_reports_epoch_step_loss_and_eta() -> None:
    import io

    from edge_inspector.evaluation.progress import TrainProgress

    stream = io.StringIO()
    bar = TrainProgress("train scratch", epochs=2, steps_per_epoch=3, stream=stream, log_interval=0.0)
    for epoch in (1, 2):
        for step in (1, 2, 3):
            bar.step(epoch, step, 0.5)
    bar.close()
    last = stream.getvalue().splitlines()[-1]
    assert "epoch 2/2" in last and "step 3/3" in last and "loss 0.5000" in last and "eta 00:00" in last


def test_progress_eta_follows_the_wall_clock_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budgeted run (epochs 100000, --max-minutes) shows the budget's end, not thousands of hours."""
    import io

    from edge_inspector.evaluation import progress

    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    bar = progress.TrainProgress("train scratch", epochs=100000, steps_per_epoch=10, stream=stream,
                                 log_interval=0.0, budget_s=100.0)
    for step in range(1, 11):  # one step a second
        clock[0] += 1.0
        bar.step(1, step, 0.5)
    last = stream.getvalue().splitlines()[-1]
    assert "10/100 " in last and "eta 01:30" in last and "epoch 1 (budget 01:40)" in last, last
