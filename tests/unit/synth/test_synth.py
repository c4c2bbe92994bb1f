"""Synthetic data generator: determinism, variation, defect masks, MVTec layout, line video + truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.synth import (
    CATEGORIES,
    DEFECT_TYPES,
    generate_dataset,
    list_categories,
    load_truth,
    render_line_video,
    render_sample,
)
from edge_inspector.synth.defects import MAX_AREA_FRACTION, MIN_AREA_FRACTION
from edge_inspector.synth.textures import render_scene

SIZE = 96


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_list_categories_matches_constant() -> None:
    assert list_categories() == CATEGORIES == ("brushed_metal", "woven_fabric", "printed_label")


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_image_different_seed_differs(category: str) -> None:
    a = render_sample(category, _rng(3), SIZE)
    b = render_sample(category, _rng(3), SIZE)
    c = render_sample(category, _rng(4), SIZE)
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert np.array_equal(a.image, b.image)
    assert np.abs(a.image.astype(int) - c.image.astype(int)).mean() > 2.0
    assert not a.mask.any()


@pytest.mark.parametrize("category", CATEGORIES)
def test_good_parts_vary_in_pose_and_lighting(category: str) -> None:
    images = np.stack([render_sample(category, _rng(s), SIZE).image for s in range(6)]).astype(np.float32)
    brightness = images.mean(axis=(1, 2, 3))
    assert brightness.max() - brightness.min() > 3.0  # lighting gain varies
    masks = [render_scene(category, _rng(s), SIZE).part_mask for s in range(4)]
    if category != "woven_fabric":  # fabric fills the frame; its pose shows in the weave phase instead
        assert any(not np.array_equal(masks[0], m) for m in masks[1:])
    # still the same product: each image is far closer to the mean image than to noise
    assert float(np.abs(images - images.mean(axis=0)).mean()) < 40.0


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_defect_mask_is_exact_and_visible(category: str, defect: str) -> None:
    good = render_sample(category, _rng(11), SIZE)
    bad = render_sample(category, _rng(11), SIZE, defect)
    again = render_sample(category, _rng(11), SIZE, defect)
    assert np.array_equal(bad.image, again.image) and np.array_equal(bad.mask, again.mask)
    assert bad.mask.shape == (SIZE, SIZE) and bad.mask.dtype == np.uint8
    assert set(np.unique(bad.mask)) <= {0, 255}
    inside = bad.mask > 0
    frac = inside.mean()
    assert frac > 0 and MIN_AREA_FRACTION * 0.5 <= frac <= MAX_AREA_FRACTION * 1.25
    diff = np.abs(bad.image.astype(np.float32) - good.image.astype(np.float32)).mean(axis=2)
    ring = cv2.dilate(bad.mask, np.ones((5, 5), np.uint8)) > 0
    assert diff[inside].mean() > 15.0
    assert diff[~ring].mean() < 0.5  # outside a 2-px blur margin the image is untouched
    part = render_scene(category, np.random.default_rng(11).spawn(1)[0], SIZE).part_mask
    assert part[inside].mean() == 1.0  # the defect lies on the part, never on the background


@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_defect_masks_nonempty_across_seeds(defect: str) -> None:
    for seed in range(5):
        assert render_sample("brushed_metal", _rng(100 + seed), 64, defect).mask.any()


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        render_sample("plastic", _rng(0), SIZE)
    with pytest.raises(ValueError, match="unknown defect"):
        render_sample("brushed_metal", _rng(0), SIZE, "dent")


def test_dataset_layout_counts_and_idempotency(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    summary = generate_dataset(tmp_path, "printed_label", n_train=3, n_test_good=2, n_test_defect_per_type=2,
                               size=64, seed=5, progress=lambda d, t: calls.append((d, t)))
    root = tmp_path / "printed_label"
    assert summary.root == root and summary.n_images == 3 + 2 + 2 * len(DEFECT_TYPES)
    assert calls[-1] == (summary.n_images, summary.n_images) and len(calls) == summary.n_images
    assert "printed_label" in str(summary) and "\n" not in str(summary)
    assert sorted(p.name for p in (root / "train" / "good").iterdir()) == ["000.png", "001.png", "002.png"]
    assert sorted(p.name for p in (root / "test" / "good").iterdir()) == ["000.png", "001.png"]
    for defect in DEFECT_TYPES:
        assert sorted(p.name for p in (root / "test" / defect).iterdir()) == ["000.png", "001.png"]
        for name in ("000", "001"):
            img = cv2.imread(str(root / "test" / defect / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(str(root / "ground_truth" / defect / f"{name}_mask.png"), cv2.IMREAD_UNCHANGED)
            assert img.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.dtype == np.uint8
            assert set(np.unique(mask)) == {0, 255}
    first = cv2.imread(str(root / "train" / "good" / "000.png"))
    (root / "stale.txt").write_text("old")
    generate_dataset(tmp_path, "printed_label", n_train=1, n_test_good=1, n_test_defect_per_type=0, size=64, seed=5)
    assert not (root / "stale.txt").exists() and not (root / "test" / "scratch").exists()
    assert np.array_equal(first, cv2.imread(str(root / "train" / "good" / "000.png")))


def test_dataset_rejects_unknown_category(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown category"):
        generate_dataset(tmp_path, "glass", n_train=1)


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_line_video_frames_and_truth(tmp_path: Path, suffix: str) -> None:
    video = tmp_path / f"line{suffix}"
    truth = render_line_video(video, "woven_fabric", n_frames=8, defect_rate=0.5, size=64, fps=5.0, seed=3)
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert any(t.defective for t in truth) and not all(t.defective for t in truth)
    assert load_truth(video) == truth
    doc = json.loads((tmp_path / "line.truth.json").read_text())
    assert doc["schema"] == "edge-inspector/line-truth" and doc["version"] == 1
    assert doc["category"] == "woven_fabric" and doc["fps"] == 5.0 and doc["size"] == 64
    for t, f in zip(truth, doc["frames"], strict=True):
        assert f["index"] == t.index and f["defective"] == t.defective and f["defect_type"] == t.defect_type
        if t.defective:
            x, y, w, h = f["bbox"]
            assert t.defect_type in DEFECT_TYPES and w > 0 and h > 0 and x + w <= 64 and y + h <= 64
        else:
            assert f["bbox"] is None and f["defect_type"] is None
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 2.0  # a new part every frame


def test_line_video_is_deterministic_and_unlike_training_parts(tmp_path: Path) -> None:
    a = render_line_video(tmp_path / "a.avi", n_frames=6, defect_rate=0.3, size=64, seed=0)
    b = render_line_video(tmp_path / "b.avi", n_frames=6, defect_rate=0.3, size=64, seed=0)
    assert a == b
    generate_dataset(tmp_path / "data", n_train=2, n_test_good=0, n_test_defect_per_type=0, size=64, seed=0)
    train = cv2.imread(str(tmp_path / "data" / "brushed_metal" / "train" / "good" / "000.png"))
    cap = cv2.VideoCapture(str(tmp_path / "a.avi"))
    ok, frame = cap.read()
    cap.release()
    assert ok and np.abs(train.astype(int) - frame.astype(int)).mean() > 2.0


def test_line_video_refuses_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"line\.mkv"):
        render_line_video(tmp_path / "line.mkv", n_frames=2, size=64)
