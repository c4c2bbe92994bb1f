"""Frame <-> network tensor conversion, driven by ModelMetadata; numpy/OpenCV only (no torch).

Every backend uses these two functions, so an exported engine sees exactly what the checkpoint saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from .metadata import ModelMetadata


def roi_bounds(roi: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of an (x, y, w, h) ROI clipped to a height x width frame; ValueError when nothing is
    left. The one ROI check, used by crop_roi (numpy frames and torch tensors alike)."""
    x, y, w, h = roi
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"roi {roi} lies outside the {width}x{height} frame")
    return x0, y0, x1, y1


class _Frame(Protocol):
    """What a crop needs of a frame: an HxW[xC] shape and slicing (a numpy array or a torch tensor)."""

    @property
    def shape(self) -> Sequence[int]: ...

    def __getitem__(self, key: Any) -> Any: ...


FrameT = TypeVar("FrameT", bound=_Frame)


def crop_roi(image: FrameT, roi: tuple[int, int, int, int] | None) -> FrameT:
    """The region of interest of a frame, clipped to the frame (roi_bounds), as a view of the same array
    type: the one crop of the numpy path here and the torch path (backends/gpu_preprocess.py)."""
    if roi is None:
        return image
    x0, y0, x1, y1 = roi_bounds(roi, int(image.shape[0]), int(image.shape[1]))
    cropped: FrameT = image[y0:y1, x0:x1]
    return cropped


def resize_to_input(image: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Resize a BGR uint8 image to (h, w) with area interpolation when shrinking."""
    h, w = input_size
    if image.shape[:2] == (h, w):
        return image
    shrink = image.shape[0] > h or image.shape[1] > w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_input_images(frames: Sequence[np.ndarray], meta: ModelMetadata) -> np.ndarray:
    """BGR frames -> uint8 RGB batch [N, h, w, 3] at the model's input size (ROI applied)."""
    out = [cv2.cvtColor(resize_to_input(crop_roi(f, meta.roi), meta.input_size), cv2.COLOR_BGR2RGB) for f in frames]
    return np.stack(out)


def normalise(rgb_batch: np.ndarray, meta: ModelMetadata) -> np.ndarray:
    """uint8 RGB [N, h, w, 3] -> float32 NCHW normalised with the model's mean/std."""
    x: np.ndarray = rgb_batch.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(meta.mean, np.float32)) / np.asarray(meta.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def preprocess(frames: Sequence[np.ndarray], meta: ModelMetadata) -> np.ndarray:
    """BGR uint8 frames of any size -> the network's float32 NCHW input."""
    return normalise(to_input_images(frames, meta), meta)


def map_to_frame(anomaly_map: np.ndarray, frame_shape: tuple[int, ...], meta: ModelMetadata) -> np.ndarray:
    """A [h, w] map at input size -> float32 map at frame size; zero outside the ROI."""
    H, W = frame_shape[:2]
    if meta.roi is None:
        return cv2.resize(anomaly_map.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    x, y, w, h = meta.roi
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    out = np.zeros((H, W), np.float32)
    out[y0:y1, x0:x1] = cv2.resize(anomaly_map.astype(np.float32), (x1 - x0, y1 - y0),
                                   interpolation=cv2.INTER_LINEAR)
    return out
