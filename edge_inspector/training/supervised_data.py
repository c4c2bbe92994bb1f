"""The labelled images a supervised kind (model/kinds.py, supervised=True) learns from, by issue 21's protocol.

It trains on the category's train/good images plus the DEFECTIVE test images of the committed development split
(evaluation/splits.py, docs/splits/*.dev.txt) and nothing else: the good images of the development split and the
whole remainder stay untouched, so `evaluate --split FILE --subset remainder` reports numbers comparable with the
autoencoders'. A seeded part of the good images and of the defects is held out for early stopping; the good part
also sets the image threshold, by the same false-reject rule as every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.redact import cap_text
from ..errors import UserError
from ..evaluation.splits import read_split, select
from ..model.kinds import INSPECTION_KINDS, REGISTRY, model_kind
from .data import image_files, load_images
from .run_data import RunData, load_run_data
from .train_config import TrainConfig

# A split lists test images, ~30 bytes a line: 1 MiB holds tens of thousands (magnetic tile's test set has 626).
MAX_SPLIT_BYTES = 1 << 20


class SupervisedDataError(UserError, ValueError):
    """A supervised run's flags or labelled data are unusable; one line naming the flag or file."""


def judges_on_labelled_defects(kind: str) -> bool:
    """True for the kinds that judge parts and train on labelled defects (model/kinds.py: supervised, not a type
    classifier): they must take their defects from a development split, to be evaluated on its remainder."""
    return model_kind(kind).supervised and kind in INSPECTION_KINDS


def check_labelled_flags(cfg: TrainConfig) -> None:
    """--split is required by the kinds that judge parts on labelled defects and refused by the others, as is
    --init-encoder; the part-mask and tiling flags are refused for those kinds (their score is the classifier's
    probability, not the map's maximum over a part or over stitched tiles)."""
    labelled = judges_on_labelled_defects(cfg.kind)
    if labelled and cfg.split is None:
        raise SupervisedDataError(f"model kind {cfg.kind} needs labelled defects: give --split FILE, a development "
                                  "split (docs/splits/*.dev.txt) whose defective images it trains on")
    if not labelled and (cfg.split is not None or cfg.init_encoder is not None):
        flag = "--split" if cfg.split is not None else "--init-encoder"
        names = ", ".join(k for k in REGISTRY if judges_on_labelled_defects(k))
        raise SupervisedDataError(f"{flag}: only the kinds that judge parts on labelled defects ({names}) take it, "
                                  f"not {cfg.kind}")
    if labelled and (cfg.tiles or cfg.part_mask is not None or cfg.auto_mask):
        raise SupervisedDataError(f"model kind {cfg.kind}: --tiles, --ignore-mask and --auto-mask are not supported "
                                  "(its score is the classifier's probability, not the map's maximum)")


@dataclass(frozen=True)
class LabelledData:
    """root: the category dir; good: the train/good images as the autoencoders read them (RunData: rows, their
    training/validation split);
    defect_rel: the development split's defective images ("test/<type>/<file>", relative to the category dir);
    defect_images: uint8 RGB [D, h, w, 3] at input size; defect_train/defect_val: rows of defect_images;
    dev_good_unused: how many good images of the development split stay out of training."""

    root: Path
    good: RunData
    defect_rel: list[str]
    defect_images: np.ndarray
    defect_train: np.ndarray
    defect_val: np.ndarray
    dev_good_unused: int

    @property
    def files(self) -> list[Path]:
        """Every image file this run reads: the good images, then the defective ones."""
        return self.good.files + [self.root / rel for rel in self.defect_rel]


def category_test_images(category_dir: Path) -> list[str]:
    """Every test image of an MVTec-layout category as the split files name them: "test/<type>/<file>"."""
    test_dir = category_dir / "test"
    return [str(p.relative_to(category_dir)) for type_dir in sorted(test_dir.iterdir())
            if type_dir.is_dir() and not type_dir.name.startswith(".") for p in image_files(type_dir)]


def load_labelled_data(data_dir: Path, cfg: TrainConfig) -> LabelledData:
    """The good images (train/good) and the development split's defective test images of an MVTec-layout
    category, each split into training and validation (seeded); SupervisedDataError when they cannot be."""
    data_dir = Path(data_dir)
    assert cfg.split is not None  # check_labelled_flags runs first
    if not (data_dir / "train" / "good").is_dir() or not (data_dir / "test").is_dir():
        raise SupervisedDataError(f"--data {data_dir}: expected an MVTec-layout category (train/good and "
                                  "test/<type>/) for a supervised kind")
    split = Path(cfg.split)
    if split.is_file() and split.stat().st_size > MAX_SPLIT_BYTES:
        raise SupervisedDataError(f"--split {cap_text(str(split), 200)}: {split.stat().st_size} bytes, more than "
                                  f"the {MAX_SPLIT_BYTES} a list of test images needs")
    rel = category_test_images(data_dir)
    try:
        dev = select(rel, rel, read_split(split), "dev")
    except ValueError as exc:  # names not in this test set, or not text at all
        raise SupervisedDataError(cap_text(f"--split {split}: {exc}", 400)) from None
    defects = [p for p in dev if Path(p).parent.name != "good"]
    if len(defects) < 2:
        raise SupervisedDataError(f"--split {cfg.split}: {len(defects)} defective images in the development split; "
                                  "a supervised kind needs at least 2 (one to train on, one to validate)")
    good = load_run_data(data_dir, cfg)
    order = np.random.default_rng(cfg.seed).permutation(len(defects))
    n_val = min(len(defects) - 1, max(1, round(len(defects) * cfg.val_fraction)))
    images = load_images([data_dir / p for p in defects], (cfg.input_size, cfg.input_size), cfg.roi)
    return LabelledData(data_dir, good, defects, images, np.sort(order[n_val:]), np.sort(order[:n_val]),
                        len(dev) - len(defects))
