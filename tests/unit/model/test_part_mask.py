"""The automatic part mask: the part is found on either polarity, votes over images, shrinks by the margin, and
a frame without part/background contrast is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspector.model.part_geometry import PartMaskError, auto_ignore_mask, part_of


def scene(bright_part: bool, seed: int, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    background, part = (30, 200) if bright_part else (210, 40)
    image = np.full((120, 160, 3), background, np.uint8)
    image[30 + shift:90 + shift, 40:120] = part  # a 60 x 80 part
    noise = rng.integers(-12, 13, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("bright_part", [True, False])
def test_the_part_is_found_on_a_bright_or_a_dark_background(bright_part: bool) -> None:
    found = part_of(scene(bright_part, 0))
    truth = np.zeros((120, 160), bool)
    truth[30:90, 40:120] = True
    assert (found == truth).mean() > 0.99


def test_the_ignore_mask_keeps_the_part_shrunk_by_the_margin_and_votes_over_images() -> None:
    images = [scene(True, 1), scene(True, 2), scene(True, 3, shift=20)]  # one image has the part lower
    ignore = auto_ignore_mask(images, margin=5)
    inspected = ignore == 0
    assert ignore.dtype == np.uint8 and set(np.unique(ignore)) <= {0, 255}
    ys, xs = np.nonzero(inspected)
    # the union of where parts lie (an unfixtured part is never cut off), shrunk by the margin
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == pytest.approx((35, 104, 45, 114), abs=1)
    majority = auto_ignore_mask(images, margin=5, vote=0.5) == 0
    assert np.nonzero(majority)[0].max() == pytest.approx(84, abs=1)
    assert not inspected[:, :40].any() and not inspected[:30].any(), "background and border are ignored"


def test_a_frame_without_contrast_is_refused() -> None:
    flat = np.full((50, 50, 3), 128, np.uint8)
    with pytest.raises(PartMaskError, match="no part/background contrast"):
        auto_ignore_mask([flat], margin=3)
    with pytest.raises(PartMaskError, match="no good images"):
        auto_ignore_mask([])


def test_calibrate_auto_mask_writes_the_mask_the_profile_names(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    import cv2
    import yaml

    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    root = Path(str(tmp_path))
    model = make_model(root)
    good = root / "good"
    good.mkdir()
    for i in range(6):
        cv2.imwrite(str(good / f"g{i}.png"), scene(True, i))
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "calibrate", "--model", str(model), "--good",
                          str(good), "--product", "plate", "--station", "s1", "--out", str(root / "cal"),
                          "--backend", "torch", "--device", "cpu", "--threads", "1", "--policy", "fixed",
                          "--threshold", "0.5", "--reason", "auto mask", "--auto-mask", "--mask-margin", "4"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    profile = yaml.safe_load((root / "cal" / "plate" / "s1.yaml").read_text())
    assert profile["ignore_mask"] == "s1.r0001.mask.png"
    saved = cv2.imread(str(root / "cal" / "plate" / "s1.r0001.mask.png"), cv2.IMREAD_GRAYSCALE)
    expected = auto_ignore_mask([scene(True, i) for i in range(6)], margin=4)
    assert (saved == expected).all() and "of the frame inspected" in res.stdout
