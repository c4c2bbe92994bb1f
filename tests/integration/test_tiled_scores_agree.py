"""Issue 18 item 2: a tiled model (`train --tiles`) is calibrated on the score the line judges it by.

A tiny tiled model is trained on strip-shaped parts through the CLI; then, per image, `evaluate`'s scores.csv,
`calibrate`'s per_image.csv and the verdicts `edge-inspector run` publishes to a real Mosquitto (the model's own
threshold, no profile) must be the same number, and the model's threshold must be the good-only rule applied to
the stitched scores of its validation images (recomputed here by hand from evaluate's scores). Before, training
took each validation image's highest per-tile score, a number no one else computes.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers.daemon_process import write_config

from edge_inspector.training.data import split_train_val

pytest.importorskip("torch", reason="training the tiled model needs torch (pip install .[train])")

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING"]
SHAPE = (40, 120)  # a strip: 32 px tiles with overlap 8 make 2 rows x 5 columns
TILES = ["--tiles", "--overlap", "8"]
CPU = ["--backend", "torch", "--device", "cpu"]


def strips(folder: Path, n: int, seed: int, spot: bool = False) -> list[Path]:
    """Smooth noisy strips; `spot` paints a bright disc on the part (x >= 16) of each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        image = cv2.GaussianBlur(rng.integers(70, 180, (*SHAPE, 3), dtype=np.uint8), (5, 5), 0)
        if spot:
            cv2.circle(image, (40 + 15 * i, 20), 5, (255, 255, 255), -1)
        paths.append(folder / f"{seed}_{i}.png")
        assert cv2.imwrite(str(paths[-1]), image)
    return paths


def run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def read_scores(path: Path) -> dict[str, float]:
    with path.open() as f:
        return {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: float(r["score"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("part_mask", [False, True], ids=["whole-frame", "part-mask"])
def test_a_tiled_models_threshold_comes_from_the_scores_evaluate_calibrate_and_the_daemon_agree_on(
        tmp_path: Path, part_mask: bool, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    data = tmp_path / "data"
    train_files = strips(data / "train" / "good", 10, seed=1)  # sorted by name, as training finds them
    _, val = split_train_val(len(train_files), 0.15, 0)  # the images train holds out to set the threshold
    mask_args: list[str] = []
    ignore = np.zeros(SHAPE, np.uint8)
    if part_mask:  # the left 16 columns are not the part; a validation image is hot there
        ignore[:, :16] = 255
        assert cv2.imwrite(str(tmp_path / "ignore.png"), ignore)
        mask_args = ["--ignore-mask", str(tmp_path / "ignore.png")]
        hot = cv2.imread(str(train_files[val[0]]))
        hot[5:35, 2:12] = 255
        assert cv2.imwrite(str(train_files[val[0]]), hot)
    model = tmp_path / "model"
    run([*CLI, "train", "--data", str(data), "--out", str(model), "--model", "scratch", "--input-size", "32",
         "--encoder-layers", "1", "--width", "16", "--epochs", "2", "--batch-size", "4", "--precision", "fp32",
         "--device", "cpu", *TILES, *mask_args])
    meta = json.loads((model / "metadata.json").read_text())

    # One set of images for every scorer: the training images (the validation ones among them), new good
    # strips and strips with a bright spot.
    category = tmp_path / "check"
    (category / "test" / "good").mkdir(parents=True)
    for path in train_files:
        shutil.copy(path, category / "test" / "good" / f"train_{path.name}")
    strips(category / "test" / "good", 3, seed=2)
    strips(category / "test" / "spot", 3, seed=3, spot=True)
    run([*CLI, "evaluate", "--data", str(category), "--model", str(model), *CPU, *TILES, "--out",
         str(tmp_path / "eval")])
    evaluated = read_scores(tmp_path / "eval" / "scores.csv")
    assert len(evaluated) == 16
    run([*CLI, "calibrate", "--model", str(model), "--good", str(category / "test" / "good"), "--defects",
         str(category), "--product", "strip", "--station", "s1", "--out", str(tmp_path / "cal"), *CPU, *TILES,
         "--threads", "1", "--policy", "fixed", "--threshold", "0.5", "--reason", "one score", "--report",
         str(tmp_path / "report")])
    calibrated = read_scores(tmp_path / "report" / "per_image.csv")
    assert calibrated.keys() == evaluated.keys()

    line = tmp_path / "line"
    line.mkdir()
    for key in evaluated:  # one folder of the same images, named so the verdicts name them back
        (line / key.replace("/", "__")).write_bytes((category / "test" / key).read_bytes())
    config = write_config(tmp_path / "line.yaml", model_dir=model, broker=mosquitto_broker, station="strip",
                          source={"kind": "folder", "path": str(line)},
                          model={"tiling": {"enabled": True, "overlap": 8, "working_size": 0}})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/strip/verdict")
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = sub.wait_for(16, 30.0)
    published = {v["frame"].replace("__", "/"): v for _, v in got}
    assert published.keys() == evaluated.keys()
    for key, score in evaluated.items():
        assert calibrated[key] == pytest.approx(score, abs=2e-6), key
        assert published[key]["score"] == pytest.approx(score, abs=2e-6), key
        assert published[key]["threshold"] == pytest.approx(meta["image_threshold"], abs=1e-9), key

    # The model's threshold, recomputed from evaluate's scores of the validation images: fewer than the 598
    # good images that support a 0.5 % false-reject target at 95 %, so the highest good score plus 10 % of the
    # good spread (highest minus median).
    good = np.array([evaluated[f"good/train_{train_files[i].name}"] for i in val])
    assert len(good) == meta["score_stats"]["n"] == 2
    expected = good.max() + max(0.1 * (good.max() - np.median(good)), 1e-6)
    assert meta["image_threshold"] == pytest.approx(expected, abs=2e-6)
    # The pixel threshold from the same stitched maps (the daemon's tiled backend, zero off the part): their
    # 99.9th percentile, at least half the image threshold, at most the image threshold.
    from edge_inspector.backends import BackendOptions, create_backend
    from edge_inspector.model.tiling import TileSpec

    backend = create_backend("torch", model, "cpu", BackendOptions(tiling=TileSpec(0, 8, 0)))
    pixels = [np.where(ignore == 0, backend.infer([cv2.imread(str(train_files[i]))])[0].map, 0).ravel() for i in val]
    backend.close()
    threshold = meta["image_threshold"]
    expected_pixel = min(threshold, max(0.5 * threshold, float(np.quantile(np.concatenate(pixels), 0.999))))
    assert meta["pixel_threshold"] == pytest.approx(expected_pixel, rel=1e-5)
    record = meta["calibration"]
    assert record["policy"] == "target-false-reject"
    assert record["params"] == {"target": 0.005, "confidence": 0.95}
    assert any("598" in w for w in record["warnings"]), record["warnings"]
