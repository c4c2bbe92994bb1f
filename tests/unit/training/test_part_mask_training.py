"""Training on the part only (`train --auto-mask/--ignore-mask`): background pixels carry no loss and no
simulated anomaly, the mask follows its image through augmentation and tiling, and the model's part mask
travels to evaluate, calibrate, exports and the daemon, where background cannot fail a part."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need torch (pip install .[train])")

from edge_inspector.config.models import InspectionConfig  # noqa: E402
from edge_inspector.model.metadata import MetadataError, ModelMetadata  # noqa: E402
from edge_inspector.model.part_mask import PART_MASK_FILE, part_at, part_scores, save_part_mask  # noqa: E402
from edge_inspector.service.profile_settings import resolve_settings  # noqa: E402
from edge_inspector.training.augment import simulate_anomalies  # noqa: E402
from edge_inspector.training.data import load_tiles, part_weights  # noqa: E402
from edge_inspector.training.objective import mean_over  # noqa: E402
from edge_inspector.training.part_region import augment_with_part  # noqa: E402
from edge_inspector.types import Verdict  # noqa: E402


def left_half_ignored(h: int, w: int) -> np.ndarray:
    ignore = np.zeros((h, w), np.uint8)
    ignore[:, : w // 2] = 255
    return ignore


def test_background_error_costs_nothing_when_training_on_the_part() -> None:
    err = torch.zeros(2, 3, 16, 16)
    err[..., :8] = 5.0  # error only on the left half
    part = torch.zeros(2, 1, 16, 16)
    part[..., 8:] = 1.0  # the part is the right half
    assert float(mean_over(err, part)) == 0.0
    assert float(mean_over(err, None)) == pytest.approx(2.5)
    err[..., 8:] = 1.0
    assert float(mean_over(err, part)) == pytest.approx(1.0)  # a mean over the part's pixels only
    assert float(mean_over(err, torch.zeros(2, 1, 16, 16))) == 0.0  # a tile with no part: no NaN


def test_simulated_anomalies_land_on_the_part_only() -> None:
    x = torch.randn(8, 3, 64, 64)
    region = torch.zeros(8, 1, 64, 64)
    region[..., 16:48, 16:48] = 1.0
    for seed in range(4):
        corrupted, masks = simulate_anomalies(x, torch.Generator().manual_seed(seed), p_anomaly=1.0, region=region)
        assert masks.sum() > 0 and float((masks * (1 - region)).sum()) == 0.0
        assert torch.equal(corrupted * (1 - region), x * (1 - region)), "the background is untouched"


def test_the_part_mask_moves_with_its_image_through_flips_and_rotation() -> None:
    part = torch.zeros(4, 1, 32, 32)
    part[:, :, 4:14, 2:30] = 1.0
    x = part.repeat(1, 3, 1, 1) * 4.0 - 2.0  # the image shows the part exactly
    xa, pa = augment_with_part(x, part, torch.Generator().manual_seed(3), True, True, 30.0)
    assert pa is not None and xa.shape == (4, 3, 32, 32) and pa.shape == (4, 1, 32, 32)
    assert set(torch.unique(pa).tolist()) <= {0.0, 1.0}
    agree = ((xa[:, :1] > 0).float() == pa).float().mean()
    assert float(agree) > 0.98  # the same flips and rotation; only interpolated edge pixels differ
    assert not torch.equal(pa, part), "the augmentation did move something"


def write_parts(folder: Path, n: int, size: tuple[int, int] = (60, 80)) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        image = np.full((*size, 3), 25, np.uint8)
        image[10:50, 20:60] = 200
        image = np.clip(image + rng.integers(-10, 11, image.shape), 0, 255).astype(np.uint8)
        files.append(folder / f"{i}.png")
        cv2.imwrite(str(files[-1]), image)
    return files


def test_part_weights_align_with_the_images_and_the_tiles(tmp_path: Path) -> None:
    files = write_parts(tmp_path / "good", 3)
    ignore = left_half_ignored(30, 40)  # half the frame size: resized to each frame, as the daemon does
    weights = part_weights(files, ignore, (32, 32))
    assert weights.shape == (3, 1, 32, 32) and weights.dtype == np.float32
    assert not weights[:, :, :, :16].any() and weights[:, :, :, 16:].all()
    cropped = part_weights(files, ignore, (32, 32), roi=(40, 0, 40, 60))  # the ROI is the right half: all part
    assert cropped.all()
    tiles, owner = load_tiles(files, 32, 0, 8)
    tiled = part_weights(files, ignore, (32, 32), tiling=(32, 0, 8))
    assert len(tiled) == len(tiles) == len(owner)
    first = tiled[owner == 0]  # 60x80 frames, 32 px tiles, overlap 8: rows at 0, 24, 28, columns at 0, 24, 48
    assert first.shape[0] == 9 and not first[0].any() and first[2].all() and first[8].all()


def test_metadata_refuses_a_part_mask_outside_the_model_dir(tmp_path: Path) -> None:
    meta = ModelMetadata(model_id="m", kind="scratch", input_size=(32, 32), arch={}, part_mask="../mask.png")
    meta.save(tmp_path)
    with pytest.raises(MetadataError, match=r"part_mask: expected a file name in the model directory"):
        ModelMetadata.load(tmp_path)


def masked_model(root: Path) -> Path:
    from helpers.tiny_model import make_model

    model = make_model(root, size=32)
    meta = ModelMetadata.load(model)
    meta.part_mask = save_part_mask(left_half_ignored(60, 80), model)
    meta.save(model)
    return model


def test_the_daemon_judges_a_masked_model_on_its_part_without_a_profile(tmp_path: Path) -> None:
    model = masked_model(tmp_path)
    meta = ModelMetadata.load(model)
    cfg = SimpleNamespace(inspection=InspectionConfig(min_defect_area=4))
    settings = resolve_settings(cfg, meta, model)  # type: ignore[arg-type]
    hot_background = np.zeros((60, 80), np.float32)
    hot_background[20:30, 10:20] = 0.99  # left half: not the part
    verdict, boxes, _ = settings.judge(hot_background, 0.99)
    assert verdict == Verdict.PASS and boxes == ()
    verdict, boxes, _ = settings.judge(np.fliplr(hot_background).copy(), 0.99)  # the same spot on the part
    assert verdict == Verdict.FAIL and len(boxes) == 1
    (model / PART_MASK_FILE).unlink()
    with pytest.raises(MetadataError, match=r"part_mask: .*part_mask.png is missing"):
        resolve_settings(cfg, meta, model)  # type: ignore[arg-type]


def test_part_scores_take_the_max_over_the_part_only() -> None:
    maps = np.zeros((2, 6, 8), np.float32)
    maps[0, 1, 1], maps[0, 2, 6], maps[1, 3, 2] = 0.9, 0.4, 0.7
    part = part_at(left_half_ignored(3, 4), (6, 8))
    assert part_scores(maps, part).tolist() == pytest.approx([0.4, 0.0])


def test_train_auto_mask_then_evaluate_and_export_carry_the_mask(tmp_path: Path) -> None:
    category = tmp_path / "widget"
    write_parts(category / "train" / "good", 8)
    write_parts(category / "test" / "good", 2)
    defect = write_parts(category / "test" / "spot", 2)
    (category / "ground_truth" / "spot").mkdir(parents=True)
    for path in defect:
        image = cv2.imread(str(path))
        cv2.circle(image, (40, 30), 5, (0, 0, 255), -1)
        cv2.imwrite(str(path), image)
        gt = np.zeros((60, 80), np.uint8)
        cv2.circle(gt, (40, 30), 5, 255, -1)
        cv2.imwrite(str(category / "ground_truth" / "spot" / f"{path.stem}_mask.png"), gt)
    model = tmp_path / "model"
    cli = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING"]
    done = subprocess.run([*cli, "train", "--data", str(category), "--out", str(model), "--model", "scratch",
                           "--input-size", "32", "--encoder-layers", "1", "--width", "16", "--epochs", "2",
                           "--batch-size", "4", "--precision", "fp32", "--auto-mask", "--mask-margin", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["part_mask"] == PART_MASK_FILE
    assert meta["train"]["part_mask"]["source"] == "auto, margin 2 px"
    saved = cv2.imread(str(model / PART_MASK_FILE), cv2.IMREAD_GRAYSCALE)
    inspected = saved == 0  # the 40 x 60 bright block, 2 px in from its edge
    ys, xs = np.nonzero(inspected)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (12, 47, 22, 57)
    assert meta["train"]["part_mask"]["part_fraction"] == pytest.approx(inspected.mean(), abs=1e-4)

    done = subprocess.run([*cli, "evaluate", "--data", str(category), "--model", str(model), "--backend", "torch",
                           "--device", "cpu", "--out", str(tmp_path / "eval")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"part mask {model / PART_MASK_FILE}: 27.0% of the frame scored" in done.stdout  # 36 x 36 of 60 x 80
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["environment"]["part_mask"] == str(model / PART_MASK_FILE)

    pytest.importorskip("onnx", reason="the export check needs onnx (pip install .[export])")
    from edge_inspector.export.onnx_export import export_onnx

    export_onnx(model, tmp_path / "onnx")
    assert (tmp_path / "onnx" / PART_MASK_FILE).read_bytes() == (model / PART_MASK_FILE).read_bytes()
    assert ModelMetadata.load(tmp_path / "onnx").part_mask == PART_MASK_FILE


def test_calibrate_takes_the_models_part_mask_into_the_profile(tmp_path: Path) -> None:
    import yaml

    model = masked_model(tmp_path)
    write_parts(tmp_path / "good", 6)
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "calibrate", "--model", str(model),
                           "--good", str(tmp_path / "good"), "--product", "plate", "--station", "s1", "--out",
                           str(tmp_path / "cal"), "--backend", "torch", "--device", "cpu", "--threads", "1",
                           "--policy", "fixed", "--threshold", "0.5", "--reason", "model part mask"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    profile = yaml.safe_load((tmp_path / "cal" / "plate" / "s1.yaml").read_text())
    assert profile["ignore_mask"] == "s1.r0001.mask.png"
    copied = tmp_path / "cal" / "plate" / "s1.r0001.mask.png"
    assert copied.read_bytes() == (model / PART_MASK_FILE).read_bytes()
    assert "part mask from the model" in done.stdout


@pytest.mark.parametrize("require_region", [True, False])
def test_a_hot_background_neither_fails_nor_passes_a_part_by_the_whole_frame_score(tmp_path: Path,
                                                                                   require_region: bool) -> None:
    """The threshold of a masked model was calibrated on part-only scores: the daemon compares the part's score.
    Before, the whole-frame 0.99 was compared: PASS 'but no region' or, without require_region, FAIL."""
    model = masked_model(tmp_path)
    cfg = SimpleNamespace(inspection=InspectionConfig(min_defect_area=4, require_region=require_region))
    settings = resolve_settings(cfg, ModelMetadata.load(model), model)  # type: ignore[arg-type]
    hot_background = np.zeros((60, 80), np.float32)
    hot_background[20:30, 10:20] = 0.99  # left half: not the part, which scores 0.02 everywhere
    hot_background[:, 40:] = 0.02
    verdict, boxes, reason, score = settings.judge_scored(hot_background, 0.99)
    assert (verdict, boxes, score) == (Verdict.PASS, (), pytest.approx(0.02))
    assert reason.startswith("score 0.020 <"), reason


def test_evaluate_calibrate_and_the_daemon_score_a_masked_model_alike(tmp_path: Path) -> None:
    """One definition of the score: per image, evaluate's, calibrate's and the daemon's published scores (run as
    systemd starts it, with and without a profile) are the same number for a model trained on its part."""
    import csv

    import yaml

    category = tmp_path / "widget"
    write_parts(category / "train" / "good", 8)
    write_parts(category / "test" / "good", 3)
    hot = write_parts(category / "test" / "background", 3)
    for path in hot:  # bright spots off the part: the whole-frame score rises, the part's does not
        image = cv2.imread(str(path))
        cv2.circle(image, (8, 8), 5, (255, 255, 255), -1)
        cv2.imwrite(str(path), image)
    model = tmp_path / "model"
    cli = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING"]
    done = subprocess.run([*cli, "train", "--data", str(category), "--out", str(model), "--model", "scratch",
                           "--input-size", "32", "--encoder-layers", "1", "--width", "16", "--epochs", "2",
                           "--batch-size", "4", "--precision", "fp32", "--auto-mask", "--mask-margin", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    common = ["--backend", "torch", "--device", "cpu"]
    done = subprocess.run([*cli, "evaluate", "--data", str(category), "--model", str(model), *common, "--out",
                           str(tmp_path / "eval")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "eval" / "scores.csv").open() as f:
        evaluated = {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: float(r["score"])
                     for r in csv.DictReader(f)}
    assert len(evaluated) == 6
    done = subprocess.run([*cli, "calibrate", "--model", str(model), "--good", str(category / "test" / "good"),
                           "--defects", str(category), "--product", "plate", "--station", "s1", "--out",
                           str(tmp_path / "cal"), *common, "--threads", "1", "--policy", "fixed", "--threshold",
                           "0.5", "--reason", "one score", "--report", str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "report" / "per_image.csv").open() as f:
        calibrated = {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: float(r["score"])
                      for r in csv.DictReader(f)}
    assert calibrated.keys() == evaluated.keys()
    folder = tmp_path / "line"
    folder.mkdir()
    for key in evaluated:  # one folder of the same images, named so the audit line names them back
        (folder / key.replace("/", "__")).write_bytes((category / "test" / key).read_bytes())
    for name, inspection in (("model mask", {}), ("profile", {"profile": str(tmp_path / "cal/plate/s1.yaml")})):
        out = tmp_path / f"out-{len(inspection)}"
        config = tmp_path / f"line-{len(inspection)}.yaml"
        config.write_text(yaml.safe_dump({
            "station_id": "s1", "source": {"kind": "folder", "path": str(folder)},
            "model": {"path": str(model), "backend": "torch", "device": "cpu"}, "mqtt": {"enabled": False},
            "inspection": {"min_defect_area": 4, **inspection}, "output": {"dir": str(out)}}))
        done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        lines = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
        published = {v["frame"].replace("__", "/"): v["score"] for v in lines if v.get("kind", "verdict") == "verdict"}
        assert published.keys() == evaluated.keys(), name
        for key, score in evaluated.items():
            assert published[key] == pytest.approx(score, abs=2e-6), (name, key)
            assert calibrated[key] == pytest.approx(score, abs=2e-6), key
