"""Training data: good images from an MVTec category dir (train/good) or a plain folder; MVTec test sets.

Images are resized with preprocess.py's functions (ROI crop, then resize), so training sees exactly what
inference sees.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ..model.image_file import read_image_file
from ..model.preprocess import crop_roi, resize_to_input

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def natural_key(path: Path) -> list[object]:
    """Sort key: img2 before img10, case-insensitive, by the path relative to its folder."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.as_posix())]


def image_files(folder: Path) -> list[Path]:
    """Images under folder, recursively, sorted; hidden entries skipped and symlinked dirs not followed
    (so a link loop cannot hang the scan)."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / n for n in names
                     if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(found, key=lambda p: natural_key(p.relative_to(folder)))


def good_image_files(data_dir: Path) -> list[Path]:
    """MVTec category dir -> its train/good images; otherwise every image under data_dir."""
    data_dir = Path(data_dir)
    folder = data_dir / "train" / "good" if (data_dir / "train" / "good").is_dir() else data_dir
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {data_dir}")
    files = image_files(folder)
    if len(files) < 4:
        raise ValueError(f"{folder}: need at least 4 good images to train and validate, found {len(files)}")
    return files


def data_hash(files: list[Path]) -> str:
    """Identity of a training set: names and sizes (cheap, stable across copies); 16 hex chars."""
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def read_bgr(path: Path) -> np.ndarray:
    """Decode an image file as BGR uint8; ImageFileError (a ValueError) naming the file otherwise."""
    return read_image_file(path, cv2.IMREAD_COLOR)


def load_images(files: list[Path], input_size: tuple[int, int],
                roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """uint8 RGB [N, h, w, 3] at input size, ROI-cropped and resized exactly as inference does."""
    out = [cv2.cvtColor(resize_to_input(crop_roi(read_bgr(p), roi), input_size), cv2.COLOR_BGR2RGB) for p in files]
    return np.stack(out)


def tile_cuts(image: np.ndarray, tile: int, working_size: int, overlap: int,
              roi: tuple[int, int, int, int] | None = None,
              interpolation: int = cv2.INTER_AREA) -> list[np.ndarray]:
    """The tiles of one frame exactly as tiled inference cuts them: ROI, aspect-kept resize to working_size,
    padding, overlapping grid. A part mask goes through the same cuts with INTER_NEAREST."""
    from ..model import tiling

    padded, _ = tiling.to_working(crop_roi(image, roi), working_size, tile, interpolation)
    return [np.ascontiguousarray(c)
            for c in tiling.cut(padded, tiling.grid(padded.shape[0], padded.shape[1], tile, overlap), tile)]


def load_tiles(files: list[Path], tile: int, working_size: int, overlap: int,
               roi: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(tiles, owner): uint8 RGB [T, tile, tile, 3] cut from every image as tiled inference cuts it
    (tile_cuts), and the image index of each tile."""
    tiles: list[np.ndarray] = []
    owner: list[int] = []
    for i, path in enumerate(files):
        cuts = tile_cuts(read_bgr(path), tile, working_size, overlap, roi)
        tiles.extend(cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in cuts)
        owner.extend([i] * len(cuts))
    return np.stack(tiles), np.asarray(owner)


def part_weights(files: list[Path], ignore: np.ndarray, input_size: tuple[int, int],
                 roi: tuple[int, int, int, int] | None = None,
                 tiling: tuple[int, int, int] | None = None) -> np.ndarray:
    """float32 [N, 1, h, w]: 1 on the part, 0 on background, aligned with load_images (or, with tiling =
    (tile, working_size, overlap), with load_tiles). The ignore mask is resized to each frame's size first,
    as the daemon resizes it to the frame."""
    from ..model.part_mask import part_at

    out: list[np.ndarray] = []
    for path in files:
        shape = _image_shape(path)
        part = part_at(ignore, shape).astype(np.uint8) * 255
        if tiling is None:
            crop = crop_roi(part, roi)
            out.append(cv2.resize(crop, input_size[::-1], interpolation=cv2.INTER_NEAREST))
        else:
            out.extend(tile_cuts(part, tiling[0], tiling[1], tiling[2], roi, cv2.INTER_NEAREST))
    return (np.stack(out)[:, None] > 127).astype(np.float32)


def _image_shape(path: Path) -> tuple[int, int]:
    image = read_image_file(path, cv2.IMREAD_GRAYSCALE)
    return int(image.shape[0]), int(image.shape[1])


def is_grayscale(images: np.ndarray, tolerance: float = 2.0) -> bool:
    """True when uint8 RGB images [N,h,w,3] carry no colour (grey sensors, or grey JPEGs decoded as
    colour): every pixel's channels agree within `tolerance` levels on average (JPEG chroma rounding)."""
    sample = images[:: max(1, len(images) // 32)].astype(np.int16)
    spread = np.abs(sample - sample.mean(axis=3, keepdims=True)).mean()
    return bool(spread <= tolerance / 2)


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (seeded) split of n indices; at least 2 validation and 2 training images."""
    if n < 4:
        raise ValueError(f"need at least 4 images to split into train and validation, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 2, max(2, round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class TestSample(NamedTuple):
    """One MVTec test image: (path, defect_type, image BGR, mask bool or None for good/unmasked)."""

    path: Path
    defect_type: str
    image: np.ndarray
    mask: np.ndarray | None

TestSample.__test__ = False  # type: ignore[attr-defined]  # not a pytest test class


def load_mvtec_test(category_dir: Path, input_size: tuple[int, int] | None = None) -> list[TestSample]:
    """test/<type>/* with ground_truth/<type>/<stem>_mask.png; `good` images have no mask.

    input_size None keeps the original resolution (backends map back to it); otherwise images and masks
    are resized to (h, w) with the same function inference uses (masks nearest-neighbour).
    """
    category_dir = Path(category_dir)
    test_dir = category_dir / "test"
    if not test_dir.is_dir():
        raise FileNotFoundError(f"{category_dir}: no test/ folder (expected MVTec AD layout)")
    samples = []
    for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in image_files(type_dir):
            image = read_bgr(path)
            if input_size is not None:
                image = resize_to_input(image, input_size)
            mask = None
            if type_dir.name != "good":
                mpath = category_dir / "ground_truth" / type_dir.name / f"{path.stem}_mask.png"
                m = read_image_file(mpath, cv2.IMREAD_GRAYSCALE, what="mask") if mpath.exists() else None
                if m is not None:
                    mask = cv2.resize(m, image.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 127
            samples.append(TestSample(path, type_dir.name, image, mask))
    if not samples:
        raise ValueError(f"{test_dir}: no test images")
    return samples
