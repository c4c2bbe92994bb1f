"""The labelled images a defect-type classifier learns from: the test/<type>/ folders of an MVTec-layout
category (every folder but `good`), or the dataset the dashboard's reject gallery writes in the same layout
(LABELS_DIR/test/<type>/<file>.png). A seeded part of every type is held out for validation (stratified),
so each type is both trained on and checked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.redact import cap_text
from ..errors import UserError
from ..model.defect_type_names import NAME_LIMIT, check_class_names
from .data import image_files, load_images

log = logging.getLogger(__name__)

MIN_IMAGES = 2  # per type: one to train on, one to validate
MIN_TYPES = 2


class DefectTypeDataError(UserError, ValueError):
    """The labelled data cannot train a defect-type classifier; one line naming the dir and what is missing."""


@dataclass(frozen=True)
class TypeData:
    """classes: the type names (folder names, sorted); images uint8 RGB [N, h, w, 3] at input size; labels [N]
    class indices; train/val: rows of images (every class in both); files: the image files, in row order;
    left_out: types with too few images, and their counts."""

    classes: list[str]
    images: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    val: np.ndarray
    files: list[Path]
    left_out: dict[str, int]

    def counts(self, rows: np.ndarray) -> dict[str, int]:
        """Images per class among `rows`."""
        found = np.bincount(self.labels[rows], minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, found)}


def type_folders(data_dir: Path) -> dict[str, list[Path]]:
    """The image files of each defect type folder under data_dir/test (not `good`, not hidden)."""
    test = Path(data_dir) / "test"
    if not test.is_dir():
        raise DefectTypeDataError(f"--data {cap_text(str(data_dir), 200)}: no test/ folder; expected an MVTec-layout "
                                  "category or a labelled dataset with test/<type>/ image folders")
    return {d.name: image_files(d) for d in sorted(test.iterdir())
            if d.is_dir() and d.name != "good" and not d.name.startswith(".")}


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows), seeded: of each class's n rows, max(1, round(n * val_fraction)) but at
    most n - 1 go to validation, so every class with 2 or more images is in both parts."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_val = min(len(rows) - 1, max(1, round(len(rows) * val_fraction)))
        val += rows[:n_val].tolist()
        train += rows[n_val:].tolist()
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(val, dtype=np.int64))


def load_type_data(data_dir: Path, input_size: int, roi: tuple[int, int, int, int] | None, val_fraction: float,
                   seed: int) -> TypeData:
    """Every usable type folder's images, labelled and split; DefectTypeDataError when fewer than MIN_TYPES
    types have MIN_IMAGES images each (types with fewer are left out, with a warning)."""
    folders = type_folders(data_dir)
    usable = {name: files for name, files in folders.items() if len(files) >= MIN_IMAGES}
    left_out = {name: len(files) for name, files in folders.items() if len(files) < MIN_IMAGES}
    if len(usable) < MIN_TYPES:
        found = ", ".join(f"{cap_text(n, NAME_LIMIT)}: {len(f)}" for n, f in list(folders.items())[:10]) or "none"
        raise DefectTypeDataError(cap_text(
            f"--data {data_dir}: a defect-type classifier needs at least {MIN_TYPES} defect types with "
            f"{MIN_IMAGES} or more images each under test/<type>/ (good is not a type); found {len(usable)} "
            f"(images per type: {found})", 400))
    for name, n in left_out.items():
        log.warning("defect type %s: %d image(s), fewer than %d: left out of training", cap_text(name, 80), n,
                    MIN_IMAGES)
    classes = sorted(usable)
    try:
        check_class_names(classes, f"--data {data_dir}/test: type folder")
    except ValueError as exc:
        raise DefectTypeDataError(cap_text(str(exc), 400)) from None
    files = [f for name in classes for f in usable[name]]
    labels = np.asarray([i for i, name in enumerate(classes) for _ in usable[name]], dtype=np.int64)
    images = load_images(files, (input_size, input_size), roi)
    train, val = stratified_split(labels, val_fraction, seed)
    return TypeData(classes, images, labels, train, val, files, left_out)


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Cross-entropy weight per class for the imbalance: total / (classes x count), so every class weighs the
    same in the loss as a whole (a balanced set gives 1 everywhere); float32."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0 or np.any(counts <= 0):
        raise ValueError(f"class counts: expected positive counts, got {counts.tolist()[:20]}")
    return (counts.sum() / (len(counts) * counts)).astype(np.float32)
