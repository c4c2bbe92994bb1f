"""What the classical baselines (model/classical.py) score: a fixed feature vector per image, computed inside
the model so training, evaluation, the exported graph and the daemon use the same features, then standardised
with the training images' per-feature mean and std (buffers, also inside the graph).

Two feature kinds, chosen by the arch's "features":

* "pixels": the grey image averaged down to grid x grid cells (32 x 32 = 1024 values by default). Cheap,
  needs no weights, and meaningful for aligned parts under steady light: a missing or extra blob moves the
  cells it covers. It is what the one-class SVM baseline uses.
* "resnet": global-average-pooled ResNet-50 features after stage `layers` (2: 512 values, 3: 1024). With
  ImageNet weights these describe texture and structure; with random weights they are a pipeline check.

Everything here is a fixed function at inference: static shapes, no data-dependent control flow.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .networks import STAGE_CHANNELS, ResNet50Encoder

FEATURES = ("pixels", "resnet")
PIXEL_GRID = 32
RESNET_LAYERS = 3


class Fp32Buffers(nn.Module):
    """Keeps this module's own floating buffers in float32 whatever `.to(dtype)`/`.half()` asks for: the
    fp16 torch path casts whole models, and thresholds, support vectors and training points compared in
    fp16 would move the score (STYLE.md 17: fp32 where precision cancels). Children are cast as asked."""

    def _apply(self, fn: Any, recurse: bool = True) -> Fp32Buffers:
        super()._apply(fn, recurse)
        for name, buf in self._buffers.items():
            if buf is not None and buf.is_floating_point() and buf.dtype != torch.float32:
                self._buffers[name] = buf.float()
        return self


class PixelFeatures(nn.Module):
    """Normalised RGB [B,3,H,W] -> grey cells [B, grid*grid] (the channel mean, averaged over each cell)."""

    def __init__(self, input_size: tuple[int, int], grid: int = PIXEL_GRID) -> None:
        super().__init__()
        h, w = input_size
        if grid < 1 or h % grid or w % grid:
            raise ValueError(f"arch grid: expected a divisor of the input size {h}x{w}, got {grid}")
        self.kernel = (h // grid, w // grid)
        self.dim = grid * grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.float().mean(dim=1, keepdim=True)  # fp32 even on the fp16 path: the cells are the features
        return F.avg_pool2d(grey, self.kernel, self.kernel).flatten(1)


class PooledResNetFeatures(nn.Module):
    """Normalised RGB [B,3,H,W] -> the global average of ResNet-50's stage `layers` output [B, channels]."""

    def __init__(self, layers: int = RESNET_LAYERS) -> None:
        super().__init__()
        self.encoder = ResNet50Encoder(layers)
        self.dim = STAGE_CHANNELS[layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[-1].mean(dim=(2, 3))


class Embedding(Fp32Buffers):
    """Features of the arch's kind, standardised: (f - mean) / std with the training images' statistics."""

    def __init__(self, input_size: tuple[int, int], arch: dict[str, Any]) -> None:
        super().__init__()
        kind = arch.get("features", "pixels")
        self.features: PixelFeatures | PooledResNetFeatures
        if kind == "pixels":
            self.features = PixelFeatures(input_size, _small_int(arch, "grid", PIXEL_GRID, 256))
        elif kind == "resnet":
            self.features = PooledResNetFeatures(_small_int(arch, "layers", RESNET_LAYERS, 4))
        else:
            raise ValueError(f"arch features: expected one of {', '.join(FEATURES)}, got {shown(kind)}")
        self.dim = self.features.dim
        self.register_buffer("feat_mean", torch.zeros(self.dim))
        self.register_buffer("feat_std", torch.ones(self.dim))
        self.feat_mean: torch.Tensor
        self.feat_std: torch.Tensor

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Unstandardised features [B, dim], float32."""
        return self.features(x).float()

    def standardise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw features [B, dim] -> the standardised features the scorer sees."""
        return (raw - self.feat_mean) / self.feat_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardise(self.raw(x))


def shown(value: object, limit: int = 40) -> str:
    """repr(value), capped: an arch comes from a file and is echoed in errors."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _small_int(arch: dict[str, Any], key: str, default: int, limit: int) -> int:
    value = arch.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"arch {key}: expected an integer 1..{limit}, got {shown(value)}")
    return value


def describe(arch: dict[str, Any]) -> str:
    """The features in words, for logs and the training summary."""
    if arch.get("features") == "resnet":
        return f"pooled ResNet-50 layer{arch.get('layers', RESNET_LAYERS)} features ({arch.get('weights', '?')})"
    grid = int(arch.get("grid", PIXEL_GRID))
    return f"{grid}x{grid} grey pixels"
