"""The `dense-ae` and `conv-ae` kinds: the small autoencoders on grey images that inspection projects start with.

Both turn the normalised RGB input into one grey channel inside the graph (BT.601 luma weights applied to the
normalised channels: a fixed 1x1 conv, so the grey image stays on the normalised scale, about zero mean and unit
spread) and resize it to `grey_size` x `grey_size` when the input differs (the block mean when the input is a
whole multiple of it, e.g. 256 -> 128; bilinear otherwise; both fixed-size ops). They reconstruct
that grey image; the anomaly map is |grey - reconstruction|, resized back to the input size, Gaussian-smoothed,
and the score is its maximum (networks._Scored), as for every autoencoder kind.

dense-ae: flatten -> hidden -> code -> hidden -> grey_size**2 fully connected layers (ReLU between, a linear
code), written as 1x1 convolutions over a [B, N, 1, 1] tensor: the same maths as Linear layers, and an ONNX
Conv that every TensorRT parser takes (export/onnx_checks.py has no Gemm/MatMul).
conv-ae: `downsamples` stride-2 3x3 convs (ReLU) to a `latent`-channel bottleneck, then (upsample x2, 3x3 conv)
back; no BatchNorm, as in the classic baseline.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .metadata import MetadataError
from .networks import _Scored
from .vae import INT_RANGES, arch_ints, vae_channels

LUMA = (0.299, 0.587, 0.114)
DENSE_DEFAULTS: dict[str, Any] = {"grey_size": 128, "hidden": 512, "code": 64}
CONV_DEFAULTS: dict[str, Any] = {"grey_size": 128, "width": 128, "latent": 16, "downsamples": 4}
DENSE_RANGES = {"grey_size": (8, 512), "hidden": (1, 8192), "code": (1, 4096)}
CONV_RANGES = {"grey_size": (8, 512), **INT_RANGES}
# The dense layers' weights grow with grey_size**2 x hidden: 2**26 (128 x 128 x 4096) is 256 MB a layer in fp32.
MAX_DENSE_WEIGHTS = 2**26


class GreyAutoencoder(_Scored):
    """Shared part: normalised RGB -> grey at grey_size, reconstruct (subclasses), map = |grey - recon|."""

    def __init__(self, input_size: tuple[int, int], grey_size: int) -> None:
        super().__init__(input_size)
        self.grey_size = grey_size
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)
        self.luma: torch.Tensor

    def to_grey(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] normalised RGB -> [B,1,grey_size,grey_size]."""
        g = F.conv2d(x, self.luma.to(x.dtype))
        h, w, side = g.shape[-2], g.shape[-1], self.grey_size
        if (h, w) == (side, side):
            return g
        if h % side == 0 and w % side == 0:  # 256 -> 128: the block mean (area resize), no aliasing
            return F.avg_pool2d(g, kernel_size=(h // side, w // side))
        return F.interpolate(g, size=(side, side), mode="bilinear", align_corners=False)

    def reconstruct(self, grey: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grey = self.to_grey(x)
        err = (grey.float() - self.reconstruct(grey).float()).abs()
        if tuple(err.shape[-2:]) != tuple(self.input_size):
            err = F.interpolate(err, size=tuple(self.input_size), mode="bilinear", align_corners=False)
        return self.score(err)


class DenseAutoencoder(GreyAutoencoder):
    """Fully connected autoencoder on the flattened grey image."""

    def __init__(self, input_size: tuple[int, int], grey_size: int = 128, hidden: int = 512, code: int = 64) -> None:
        super().__init__(input_size, grey_size)
        arch_ints("dense-ae", {"grey_size": grey_size, "hidden": hidden, "code": code}, DENSE_DEFAULTS, DENSE_RANGES)
        n = grey_size * grey_size
        if n * hidden > MAX_DENSE_WEIGHTS:
            raise MetadataError(f"dense-ae arch: grey_size**2 x hidden = {n * hidden} weights a layer, "
                                f"over the limit {MAX_DENSE_WEIGHTS}")
        self.encoder = nn.Sequential(nn.Conv2d(n, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, code, 1))
        self.decoder = nn.Sequential(nn.Conv2d(code, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, n, 1))

    def reconstruct(self, grey: torch.Tensor) -> torch.Tensor:
        flat = grey.flatten(1)[:, :, None, None]
        return self.decoder(self.encoder(flat)).reshape(-1, 1, self.grey_size, self.grey_size)


class ConvAutoencoder(GreyAutoencoder):
    """Strided-conv encoder, upsample + conv decoder, on the grey image."""

    def __init__(self, input_size: tuple[int, int], grey_size: int = 128, width: int = 128, latent: int = 16,
                 downsamples: int = 4) -> None:
        super().__init__(input_size, grey_size)
        arch_ints("conv-ae", {"grey_size": grey_size, "width": width, "latent": latent, "downsamples": downsamples},
                  CONV_DEFAULTS, CONV_RANGES)
        if grey_size % 2**downsamples:
            raise MetadataError(f"conv-ae arch: grey_size {grey_size} must be a multiple of 2**downsamples "
                                f"(downsamples {downsamples})")
        chans = vae_channels(width, downsamples)
        layers: list[nn.Module] = []
        cin = 1
        for c in chans:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            cin = c
        layers.append(nn.Conv2d(cin, latent, 1))
        self.encoder = nn.Sequential(*layers)
        self.inp = nn.Sequential(nn.Conv2d(latent, cin, 3, padding=1), nn.ReLU(inplace=True))
        self.ups = nn.ModuleList([
            nn.Sequential(nn.Conv2d(chans[i], chans[max(0, i - 1)], 3, padding=1), nn.ReLU(inplace=True))
            for i in reversed(range(downsamples))
        ])
        self.out = nn.Conv2d(chans[0], 1, 3, padding=1)

    def reconstruct(self, grey: torch.Tensor) -> torch.Tensor:
        h = self.inp(self.encoder(grey))
        for block in self.ups:
            h = block(F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False))
        return self.out(h)  # type: ignore[no-any-return]


def build_dense_ae(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The dense-ae kind's network from its metadata arch (missing keys take DENSE_DEFAULTS)."""
    return DenseAutoencoder(input_size, **arch_ints("dense-ae", arch, DENSE_DEFAULTS, DENSE_RANGES))


def build_conv_ae(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The conv-ae kind's network from its metadata arch (missing keys take CONV_DEFAULTS)."""
    return ConvAutoencoder(input_size, **arch_ints("conv-ae", arch, CONV_DEFAULTS, CONV_RANGES))
