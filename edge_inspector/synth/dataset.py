"""MVTec AD layout writer: `<out>/<category>/{train/good, test/<type>, ground_truth/<type>}`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .defects import DEFECT_TYPES, render_sample
from .textures import CATEGORIES, check_category

_DATASET_STREAM = 0x0DA7A5E7  # keeps data-set seeds apart from line-video seeds (see video.py)
_SPLIT_CODES = {"train": 1, "test_good": 2, **{t: 10 + i for i, t in enumerate(DEFECT_TYPES)}}


def list_categories() -> tuple[str, ...]:
    """Names of the product categories the generator can draw."""
    return CATEGORIES


@dataclass(frozen=True)
class DatasetSummary:
    """What `generate_dataset` wrote. root is the category folder (the MVTec category dir)."""

    root: Path
    category: str
    size: int
    seed: int
    n_train: int
    n_test_good: int
    test_defect: tuple[tuple[str, int], ...]

    @property
    def n_test_defect(self) -> int:
        """Defective test images over all defect types."""
        return sum(n for _, n in self.test_defect)

    @property
    def n_images(self) -> int:
        """All images written (train + test)."""
        return self.n_train + self.n_test_good + self.n_test_defect

    def __str__(self) -> str:
        per_type = ", ".join(f"{t} {n}" for t, n in self.test_defect)
        return (f"{self.category} at {self.root}: {self.n_train} train good, {self.n_test_good} test good, "
                f"{self.n_test_defect} test defective ({per_type}), {self.size}x{self.size} px, seed {self.seed}")


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _DATASET_STREAM, _SPLIT_CODES[split], index])


def _write(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write image {path}")


def generate_dataset(out_dir: Path, category: str = "brushed_metal", *, n_train: int = 120, n_test_good: int = 20,
                     n_test_defect_per_type: int = 8, size: int = 256, seed: int = 0,
                     progress: Callable[[int, int], None] | None = None) -> DatasetSummary:
    """Write a synthetic MVTec-AD-layout data set for `category` under `out_dir/<category>`.

    An existing `out_dir/<category>` is removed first, so reruns never mix old and new files.
    Images are BGR PNGs named 000.png...; masks are single-channel {0,255} PNGs named 000_mask.png.
    `progress(done, total)` is called after each image. Deterministic for a given seed.
    """
    check_category(category)
    for name, n in (("n_train", n_train), ("n_test_good", n_test_good),
                    ("n_test_defect_per_type", n_test_defect_per_type)):
        if n < 0:
            raise ValueError(f"{name}: expected >= 0, got {n}")
    root = Path(out_dir) / category
    if root.exists():
        shutil.rmtree(root)
    jobs: list[tuple[str, int, str | None]] = [("train", i, None) for i in range(n_train)]
    jobs += [("test_good", i, None) for i in range(n_test_good)]
    jobs += [(t, i, t) for t in DEFECT_TYPES for i in range(n_test_defect_per_type)]
    width = max(3, len(str(max(n_train, n_test_good, n_test_defect_per_type) - 1)))
    for d in [root / "train" / "good", root / "test" / "good"] + [
            root / sub / t for t in DEFECT_TYPES if n_test_defect_per_type for sub in ("test", "ground_truth")]:
        d.mkdir(parents=True, exist_ok=True)
    for done, (split, i, defect) in enumerate(jobs, start=1):
        sample = render_sample(category, _rng(seed, split, i), size, defect)
        name = f"{i:0{width}d}"
        if split == "train":
            _write(root / "train" / "good" / f"{name}.png", sample.image)
        elif defect is None:
            _write(root / "test" / "good" / f"{name}.png", sample.image)
        else:
            _write(root / "test" / defect / f"{name}.png", sample.image)
            _write(root / "ground_truth" / defect / f"{name}_mask.png", sample.mask)
        if progress is not None:
            progress(done, len(jobs))
    return DatasetSummary(root, category, size, seed, n_train, n_test_good,
                          tuple((t, n_test_defect_per_type) for t in DEFECT_TYPES))
