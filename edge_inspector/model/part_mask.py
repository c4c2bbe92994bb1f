"""A model's part mask: the pixels of the frame that are the part, fixed when the model is trained.

`train --ignore-mask/--auto-mask` stores it beside the weights as part_mask.png (255 = not the part, the
ignore-mask convention of profiles) and names it in metadata.json. Background and image borders then neither
train (no reconstruction loss, no simulated anomaly there) nor judge: the model's threshold comes from the
part's pixels, `evaluate` scores the part only, and the daemon and `calibrate` use it as the ignore mask when
no profile gives one. No torch here: the runtime reads it too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from .metadata import MetadataError, ModelMetadata

PART_MASK_FILE = "part_mask.png"


def save_part_mask(ignore: np.ndarray, model_dir: Path) -> str:
    """Write the ignore mask (uint8, nonzero = not the part) into model_dir; returns its file name."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(model_dir / PART_MASK_FILE), np.where(ignore > 0, 255, 0).astype(np.uint8)):
        raise OSError(f"cannot write {model_dir / PART_MASK_FILE}")
    return PART_MASK_FILE


def part_mask_path(model_dir: Path, meta: ModelMetadata) -> Path | None:
    """The model's part-mask file, None when it was trained on whole frames; MetadataError when missing."""
    if meta.part_mask is None:
        return None
    path = Path(model_dir) / meta.part_mask
    if not path.is_file():
        raise MetadataError(f"{Path(model_dir) / 'metadata.json'}: part_mask: {path} is missing (copy it with "
                            "the model directory)")
    return path


def load_ignore(path: Path) -> np.ndarray:
    """An ignore-mask PNG as uint8 (nonzero = not inspected); one line naming the file otherwise."""
    ignore = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if ignore is None:
        raise ValueError(f"mask {path}: missing or not an image")
    if ignore.min() == ignore.max() and ignore.max() > 0:
        raise ValueError(f"mask {path}: every pixel is ignored, nothing would be inspected")
    return ignore


def part_at(ignore: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool [h, w]: the part's pixels for a frame or map of `shape`, the mask resized nearest-neighbour."""
    h, w = shape
    same = ignore if ignore.shape[:2] == (h, w) else cv2.resize(ignore, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.asarray(same == 0)


def part_scores(maps: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Image scores over the part only: the max of each map [N, h, w] where `part` ([h, w] or [N, h, w])."""
    inside = np.where(part, maps, -np.inf).reshape(len(maps), -1).max(axis=1)
    return np.where(np.isfinite(inside), inside, 0.0).astype(np.float32)


def copy_part_mask(meta: ModelMetadata, src_dir: Path, dst_dir: Path) -> None:
    """Exports carry the mask with the metadata that names it."""
    src = part_mask_path(src_dir, meta)
    if src is not None and Path(src_dir).resolve() != Path(dst_dir).resolve():
        shutil.copy2(src, Path(dst_dir) / src.name)
