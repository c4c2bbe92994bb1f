"""Training data: good images from an MVTec category dir (train/good) or a plain folder; MVTec test sets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..capture.sources import IMAGE_SUFFIXES, _natural_key
from ..model.preprocess import resize_to_input


def good_image_files(data_dir: Path) -> list[Path]:
    """MVTec category dir -> its train/good images; otherwise the images directly in data_dir."""
    folder = data_dir / "train" / "good" if (data_dir / "train" / "good").is_dir() else data_dir
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {data_dir}")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if len(files) < 4:
        raise ValueError(f"{folder}: need at least 4 good images to train and validate, found {len(files)}")
    return files


def data_hash(files: list[Path]) -> str:
    """Identity of a training set: names and sizes (cheap, stable across copies)."""
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path}")
    return image


def load_images(files: list[Path], input_size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB [N, h, w, 3] at input size, resized exactly as inference resizes."""
    return np.stack([cv2.cvtColor(resize_to_input(read_bgr(p), input_size), cv2.COLOR_BGR2RGB) for p in files])


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split; at least 2 validation images."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 2, max(2, round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass(frozen=True)
class TestSample:
    """One MVTec test image with its label and ground-truth mask (None for good or unmasked)."""

    path: Path
    defect_type: str
    image: np.ndarray  # BGR at original size
    mask: np.ndarray | None  # bool at original size


def load_mvtec_test(category_dir: Path) -> list[TestSample]:
    """test/<type>/* with ground_truth/<type>/<stem>_mask.png; `good` images have no mask."""
    test_dir = category_dir / "test"
    if not test_dir.is_dir():
        raise FileNotFoundError(f"{category_dir}: no test/ folder (expected MVTec AD layout)")
    samples = []
    for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        for path in sorted((p for p in type_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key):
            image = read_bgr(path)
            mask = None
            if type_dir.name != "good":
                mpath = category_dir / "ground_truth" / type_dir.name / f"{path.stem}_mask.png"
                m = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
                if m is not None:
                    mask = cv2.resize(m, image.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 127
            samples.append(TestSample(path, type_dir.name, image, mask))
    if not samples:
        raise ValueError(f"{test_dir}: no test images")
    return samples
