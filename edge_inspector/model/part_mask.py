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

from .image_file import ImageFileError, file_label, read_image_file
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


def load_ignore(path: Path, frame_shape: tuple[int, int] | None = None) -> np.ndarray:
    """An ignore-mask PNG as uint8 [h, w] (nonzero = not inspected): the one loader of the daemon (profile
    and model part masks), `calibrate`, `evaluate` and training. ImageFileError, one line naming the file,
    when it is missing or not an image (model/image_file.py), not 8-bit grey (colour would be turned to grey
    by luminance, 16 bits scaled down: neither is what was drawn), ignores every pixel (nothing would be
    judged: every part would pass), or, with `frame_shape` (h, w), has another aspect than the frames."""
    raw = read_image_file(path, cv2.IMREAD_UNCHANGED, what="ignore mask")
    name = f"ignore mask {file_label(path)}"
    if raw.dtype != np.uint8:
        raise ImageFileError(f"{name}: {raw.dtype} pixels; expected an 8-bit grey PNG (0 = inspected)")
    if raw.ndim == 3:
        colour = raw[..., :3]
        if colour.shape[2] == 3 and not (np.array_equal(colour[..., 0], colour[..., 1])
                                         and np.array_equal(colour[..., 0], colour[..., 2])):
            raise ImageFileError(f"{name}: {raw.shape[2]} channels in colour; expected one grey channel "
                                 "(0 = inspected, nonzero = ignored)")
        raw = np.ascontiguousarray(colour[..., 0])
    if raw.min() == raw.max() and raw.max() > 0:
        raise ImageFileError(f"{name}: every pixel is ignored, nothing would be inspected")
    if frame_shape is not None:
        check_fits(raw, frame_shape, path)
    return raw


def check_fits(ignore: np.ndarray, frame_shape: tuple[int, int], path: Path | str) -> None:
    """ImageFileError unless an ignore mask has the frames' aspect (within 1%): it is resized to each frame
    nearest-neighbour (part_at), so a mask drawn for another camera or crop would ignore the wrong pixels."""
    (mh, mw), (fh, fw) = ignore.shape[:2], frame_shape[:2]
    if abs(mw * fh - fw * mh) > 0.01 * fw * mh:
        raise ImageFileError(f"ignore mask {file_label(path)}: {mw}x{mh} pixels, the frames are {fw}x{fh}: "
                             "draw it at frame size")


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
