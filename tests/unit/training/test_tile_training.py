"""Training on tiles (`train --tiles`): random tile-sized crops of the working-resolution images, their part
masks cut from the same window, images drawn by area, and a tiny real run through TrainConfig."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need torch (pip install .[train])")

from edge_inspector.model.metadata import ModelMetadata  # noqa: E402
from edge_inspector.training.crops import RandomCrops  # noqa: E402
from edge_inspector.training.loop import train  # noqa: E402
from edge_inspector.training.train_config import TrainConfig  # noqa: E402

META = ModelMetadata(model_id="", kind="scratch", input_size=(32, 32), arch={})


def coordinate_image(path: Path, h: int, w: int) -> None:
    """Every pixel says where it is: red = row, green = column (BGR on disk)."""
    yy, xx = np.mgrid[:h, :w]
    image = np.stack([np.full((h, w), 7), xx, yy], axis=2).astype(np.uint8)
    assert cv2.imwrite(str(path), image)


def decode(x: torch.Tensor) -> np.ndarray:
    """Normalised NCHW crops back to uint8 RGB NHWC."""
    rgb = x.numpy().transpose(0, 2, 3, 1) * np.asarray(META.std, np.float32) + np.asarray(META.mean, np.float32)
    return np.rint(rgb * 255).astype(np.int64)


def test_random_crops_are_windows_of_the_image_with_their_part(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    coordinate_image(path, 60, 100)
    ignore = np.zeros((60, 100), np.uint8)
    ignore[:, :50] = 255  # the part is the right half
    crops = RandomCrops([path], 32, 0, META, epoch_size=10, ignore=ignore)
    gen = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(5):
        x, part = crops.take(torch.arange(8), gen)
        assert x.shape == (8, 3, 32, 32) and part is not None and part.shape == (8, 1, 32, 32)
        rgb = decode(x)
        for crop, p in zip(rgb, part[:, 0].numpy()):
            y0, x0 = int(crop[0, 0, 0]), int(crop[0, 0, 1])
            yy, xx = np.mgrid[y0:y0 + 32, x0:x0 + 32]
            assert (crop[..., 0] == yy).all() and (crop[..., 1] == xx).all() and (crop[..., 2] == 7).all()
            assert (p == (xx >= 50)).all(), "the part mask is cut from the same window"
            assert 0 <= y0 <= 60 - 32 and 0 <= x0 <= 100 - 32
            starts.add((y0, x0))
    assert len(starts) > 30, "fresh positions, not a grid"


def test_images_are_drawn_in_proportion_to_their_area(tmp_path: Path) -> None:
    coordinate_image(tmp_path / "small.png", 40, 40)
    coordinate_image(tmp_path / "large.png", 80, 60)  # 3 x the area
    crops = RandomCrops([tmp_path / "small.png", tmp_path / "large.png"], 32, 0, META, epoch_size=4)
    x, _ = crops.take(torch.arange(2000), torch.Generator().manual_seed(1))
    rgb = decode(x)
    from_large = np.mean([(c[..., 0].max() >= 40) or (c[..., 1].max() >= 40) for c in rgb])
    # crops of the large image that stay inside rows < 40 and columns < 40 look small: 9 of its 49 x 29 starts
    expected = 0.75 * (1 - (9 * 9) / (49 * 29))
    assert from_large == pytest.approx(expected, abs=0.04)


def test_working_size_shrinks_before_cropping_and_small_frames_are_padded(tmp_path: Path) -> None:
    coordinate_image(tmp_path / "big.png", 120, 200)
    coordinate_image(tmp_path / "tiny.png", 20, 24)
    crops = RandomCrops([tmp_path / "big.png", tmp_path / "tiny.png"], 32, 100, META, epoch_size=4)
    assert crops.images[0].shape == (60, 100, 3)  # longer side 100, aspect kept
    assert crops.images[1].shape == (32, 32, 3)  # never upscaled; reflected out to one tile


def test_train_on_random_tiles_records_how_it_was_trained(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        image = cv2.GaussianBlur(rng.integers(60, 200, (48, 80, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(good / f"{i}.png"), image)
    cfg = TrainConfig(kind="scratch", input_size=32, encoder_layers=1, width=16, epochs=2, batch_size=4,
                      tiles=True, tile_overlap=8, precision="fp32", seed=3)
    result = train(good, tmp_path / "model", cfg, progress=False)
    tiling = result.metadata.train["tiling"]
    assert tiling == {"working_size": 0, "overlap": 8, "tiles": 6 * 6, "crops": "random"}  # 2 rows x 3 columns
    # validation is whole images' grid tiles: 2 of 6 images, 6 tiles each, split by image
    assert result.metadata.train["n_val"] == 12 and result.metadata.train["n_train"] == 24
    assert result.metadata.score_stats["n"] == 2  # one score per validation image, its highest tile
    with pytest.raises(ValueError, match="tile_crops: expected random or grid, got 'spiral'"):
        TrainConfig(tiles=True, tile_crops="spiral")
