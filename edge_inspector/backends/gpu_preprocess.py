"""Frame -> network input in torch, on any device: the GPU twin of model.preprocess.preprocess.

The resize replays cv2.resize's own rules for uint8 frames: INTER_AREA when shrinking (box weights
with fractional edge cells, rounded like cv2), INTER_LINEAR when growing (11-bit fixed-point taps in
cv2's integer arithmetic), and cv2's two-tap area-linear rule when a frame shrinks along one axis and
grows along the other. An antialiased F.interpolate is no substitute: on textured frames it is up to
~70 uint8 levels away from INTER_AREA, and the model was trained on INTER_AREA. On the CPU this
reproduces OpenCV bit for bit; elsewhere (another OpenCV SIMD path, cuBLAS summation order, TF32 if
enabled) a pixel may land one uint8 level away: 1 / (255 * min(std)) ~= 0.0175 after normalisation.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from ..model.metadata import ModelMetadata
from ..model.preprocess import crop_roi  # one ROI geometry for numpy and torch; re-exported

Mode = Literal["area", "area_linear", "linear"]
COEF_SCALE = 2048  # cv2 INTER_RESIZE_COEF_SCALE: 11-bit fixed-point interpolation weights for uint8


def _fraction(d: int, n_in: int, n_out: int, mode: Mode) -> tuple[int, np.float32]:
    """cv2's source index and single-precision fraction of output pixel d (before any edge clamp)."""
    inv_scale = n_out / n_in
    scale = 1.0 / inv_scale
    if mode == "linear":
        f = np.float32((d + 0.5) * scale - 0.5)
        s = int(np.floor(f))
        return s, np.float32(f - np.float32(s))
    s = int(np.floor(d * scale))
    f = np.float32((d + 1) - (s + 1) * inv_scale)
    return s, np.float32(0.0) if f <= 0 else np.float32(f - np.floor(f))


@lru_cache(maxsize=64)
def resize_weights(n_in: int, n_out: int, mode: Mode) -> np.ndarray:
    """[n_out, n_in] float64 weights of one resize axis, as cv2.resize computes them for `mode`.

    "area": box filter with fractional edge cells (cv2 computeResizeAreaTab; both axes shrink).
    "linear": half-pixel-centre bilinear with clamped edges (cv2 INTER_LINEAR).
    "area_linear": the two-tap rule cv2 applies for INTER_AREA when the other axis grows.
    """
    w = np.zeros((n_out, n_in), np.float64)
    scale = 1.0 / (n_out / n_in)
    for d in range(n_out):
        if mode != "area":
            s, f = _fraction(d, n_in, n_out, mode)
            if s < 0 or s >= n_in - 1:
                s, f = min(max(s, 0), n_in - 1), np.float32(0.0)
            w[d, s] += float(np.float32(1.0) - f)
            w[d, min(s + 1, n_in - 1)] += float(f)
            continue
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, n_in - f1)
        s2 = min(int(np.floor(f2)), n_in - 1)
        s1 = min(int(np.ceil(f1)), s2)
        if s1 - f1 > 1e-3:
            w[d, s1 - 1] += float(np.float32((s1 - f1) / cell))
        w[d, s1:s2] += float(np.float32(1.0 / cell))
        if f2 - s2 > 1e-3:
            w[d, s2] += float(np.float32(min(f2 - s2, 1.0, cell) / cell))
    return w


@lru_cache(maxsize=64)
def linear_taps(n_in: int, n_out: int, mode: Mode, vertical: bool) -> tuple[np.ndarray, ...]:
    """Two-tap fixed-point taps of one axis: (first index, second index, first coef, second coef).

    Coefs are in 1/2048 units, rounded from cv2's single-precision fractions. cv2 zeroes the fraction
    at the frame edge only horizontally; vertically it keeps it and reads the edge row twice, which
    changes the integer rounding, so the two axes differ.
    """
    taps = np.zeros((4, n_out), np.int64)
    for d in range(n_out):
        s, f = _fraction(d, n_in, n_out, mode)
        if not vertical and (s < 0 or s >= n_in - 1):
            s, f = min(max(s, 0), n_in - 1), np.float32(0.0)
        taps[:, d] = (min(max(s, 0), n_in - 1), min(max(s + 1, 0), n_in - 1),
                      np.round(np.float32(np.float32(1.0) - f) * COEF_SCALE), np.round(f * COEF_SCALE))
    return taps[0], taps[1], taps[2].astype(np.int32), taps[3].astype(np.int32)


def resize_modes(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[Mode, Mode]:
    """(vertical, horizontal) modes of the cv2.resize call model.preprocess.resize_to_input makes."""
    (src_h, src_w), (dst_h, dst_w) = in_hw, out_hw
    if src_h <= dst_h and src_w <= dst_w:
        return "linear", "linear"
    if src_h >= dst_h and src_w >= dst_w:
        return "area", "area"
    return "area_linear", "area_linear"


def resize_area(image: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor, half_up: bool) -> torch.Tensor:
    """uint8 HxWxC -> float32 levels h x w x C through dense area weights, rounded like cv2."""
    H, W, C = image.shape
    x = image.float()
    rows = (wy @ x.reshape(H, W * C)).reshape(wy.shape[0], W, C)
    out = wx @ rows
    # cv2's exact-2x fast path rounds halves up ((sum + 2) >> 2); its general path rounds half to even.
    return (torch.floor(out + 0.5) if half_up else torch.round(out)).clamp_(0.0, 255.0)


def resize_linear(image: torch.Tensor, ty: tuple[torch.Tensor, ...], tx: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """uint8 HxWxC -> float32 levels through two-tap fixed-point weights, in cv2's integer arithmetic."""
    x = image.int()
    i0, i1, a0, a1 = tx
    rows = x[:, i0] * a0[None, :, None] + x[:, i1] * a1[None, :, None]
    j0, j1, b0, b1 = ty
    s0, s1 = rows[j0] >> 4, rows[j1] >> 4
    out = (((b0[:, None, None] * s0) >> 16) + ((b1[:, None, None] * s1) >> 16) + 2) >> 2
    return out.clamp_(0, 255).float()


def normalise(rgb_levels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """float32 h x w x 3 RGB levels -> [3, h, w], in model.preprocess.normalise's operation order."""
    return ((rgb_levels / 255.0 - mean) / std).permute(2, 0, 1)


Plan = tuple[str, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]


class FramePreprocessor:
    """BGR uint8 HxWx3 frame tensor (any size, any device) -> normalised float32 RGB [3, h, w] there.

    The metadata (ROI, input size, mean, std) is the call's, as model.preprocess.preprocess takes it per
    call: a tiling wrapper clears the ROI of the backend it wraps, and tiles must not be cropped again.
    `meta` is the default for calls that pass none. Keeps the resize weights of the last `cache_size`
    (frame size, input size) pairs on the device (a camera has one size).
    """

    def __init__(self, meta: ModelMetadata, cache_size: int = 8) -> None:
        self.meta = meta
        self.cache_size = cache_size
        self._plans: OrderedDict[tuple[int, int, int, int, str], Plan] = OrderedDict()
        self._stats: dict[tuple[str, tuple[float, ...], tuple[float, ...]], tuple[torch.Tensor, torch.Tensor]] = {}

    def _mean_std(self, meta: ModelMetadata, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (str(device), tuple(meta.mean), tuple(meta.std))
        if key not in self._stats:
            self._stats[key] = (torch.tensor(meta.mean, dtype=torch.float32, device=device),
                                torch.tensor(meta.std, dtype=torch.float32, device=device))
        return self._stats[key]

    def _plan(self, in_hw: tuple[int, int], out_hw: tuple[int, int], device: torch.device) -> Plan:
        key = (*in_hw, *out_hw, str(device))
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        (H, W), (h, w) = in_hw, out_hw
        my, mx = resize_modes(in_hw, (h, w))
        if my == "area":
            wy, wx = resize_weights(H, h, my), resize_weights(W, w, mx)
            kind = "area_half_up" if in_hw == (2 * h, 2 * w) else "area"
            plan: Plan = (kind, (torch.from_numpy(wy).to(device, torch.float32),),
                          (torch.from_numpy(wx).to(device, torch.float32),))
        else:
            plan = ("linear", tuple(torch.tensor(a, device=device) for a in linear_taps(H, h, my, True)),
                    tuple(torch.tensor(a, device=device) for a in linear_taps(W, w, mx, False)))
        self._plans[key] = plan
        if len(self._plans) > self.cache_size:
            self._plans.popitem(last=False)
        return plan

    def __call__(self, frame: torch.Tensor, meta: ModelMetadata | None = None) -> torch.Tensor:
        """One frame (uint8 HxWx3 BGR) -> float32 [3, h, w] normalised RGB at the model's input size,
        cropped, resized and normalised by `meta` (default: the constructor's)."""
        meta = meta or self.meta
        if frame.dtype != torch.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame: expected HxWx3 uint8, got shape {tuple(frame.shape)} dtype {frame.dtype}")
        image = crop_roi(frame, meta.roi)
        in_hw = (int(image.shape[0]), int(image.shape[1]))
        if in_hw == meta.input_size:
            levels = image.float()
        else:
            kind, ty, tx = self._plan(in_hw, meta.input_size, image.device)
            if kind == "linear":
                levels = resize_linear(image, ty, tx)
            else:
                levels = resize_area(image, ty[0], tx[0], half_up=kind == "area_half_up")
        return normalise(levels.flip(2), *self._mean_std(meta, levels.device))

    def clear(self) -> None:
        """Drop the cached device tensors."""
        self._plans.clear()
        self._stats.clear()
