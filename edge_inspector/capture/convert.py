"""One fixed rule that turns what a source decodes into the HxWx3 uint8 BGR a Frame holds.

- uint8 passes unchanged.
- uint16 is shifted: ``value >> (bit_depth - 8)``, clipped to 255, where bit_depth is the number of
  significant bits the camera writes (config ``source.bit_depth``: 10, 12, 14 or 16). The same value
  always gives the same grey level: never a per-frame scaling, which would change brightness from
  frame to frame and hide a dark part.
- float images with every value in [0, 1] are multiplied by 255 and rounded.
- one channel (HxW or HxWx1) is replicated to three; four channels (BGRA) lose the alpha channel.
- everything else (bool, signed or other integer types, floats outside [0, 1] or not finite,
  2 or more than 4 channels, ndim other than 2 or 3, an empty image) raises UnsupportedFrame, whose
  one-line message names the shape and dtype. The capture thread turns it into a dropped frame.
"""

from __future__ import annotations

import numpy as np

BIT_DEPTHS = range(8, 17)


class UnsupportedFrame(ValueError):
    """A decoded image the fixed conversion rule cannot turn into HxWx3 uint8 BGR."""


def _unsupported(image: np.ndarray, why: str) -> UnsupportedFrame:
    return UnsupportedFrame(f"{why}, got shape {tuple(image.shape)} dtype {image.dtype}")


def _to_uint8(image: np.ndarray, bit_depth: int) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.minimum(image >> (bit_depth - 8), 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise _unsupported(image, "expected float values in [0, 1], found NaN or infinity")
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            raise _unsupported(image, f"expected float values in [0, 1], found {low:.4g}..{high:.4g}")
        return np.rint(image * 255.0).astype(np.uint8)
    raise _unsupported(image, "expected dtype uint8, uint16 or float in [0, 1]")


def to_bgr8(image: np.ndarray, bit_depth: int = 16) -> np.ndarray:
    """Convert a decoded image to contiguous HxWx3 uint8 BGR by the module's fixed rule.

    bit_depth: significant bits of uint16 images (8..16); the config allows 10, 12, 14 or 16.
    Raises UnsupportedFrame for an image the rule does not cover, ValueError for a bad bit_depth.
    """
    if bit_depth not in BIT_DEPTHS:
        raise ValueError(f"bit_depth: expected 8..16, got {bit_depth}")
    if not isinstance(image, np.ndarray):
        raise UnsupportedFrame(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise _unsupported(image, "expected HxW or HxWxC (C = 1, 3 or 4)")
    if image.size == 0:
        raise _unsupported(image, "expected a non-empty image")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise _unsupported(image, "expected HxW or HxWxC (C = 1, 3 or 4)")
    image = _to_uint8(image, bit_depth)
    if channels == 1:
        grey = image.reshape(image.shape[0], image.shape[1], 1)
        return np.repeat(grey, 3, axis=2)
    if channels == 4:
        image = image[:, :, :3]  # BGRA -> BGR: the alpha channel says nothing about the part
    return np.ascontiguousarray(image)
