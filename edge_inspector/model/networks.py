"""ResNet-50 autoencoders. Each model's eval forward(x) returns (anomaly_map [B,1,H,W], score [B]):
the whole scoring graph lives inside the module so an ONNX/TensorRT export scores like the checkpoint.

Ops are kept TensorRT-friendly: static shapes, no data-dependent control flow, smoothing as a fixed conv.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from .kinds import network_builder

STAGE_CHANNELS = {1: 256, 2: 512, 3: 1024, 4: 2048}
STAGE_STRIDE = {1: 4, 2: 8, 3: 16, 4: 32}


class ResNet50Encoder(nn.Module):
    """torchvision ResNet-50 truncated after `layer{layers}`; returns the feature of every stage used."""

    def __init__(self, layers: int = 3) -> None:
        super().__init__()
        if layers not in STAGE_CHANNELS:
            raise ValueError(f"encoder_layers: expected 1..4, got {layers}")
        net = resnet50(weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList([getattr(net, f"layer{i}") for i in range(1, layers + 1)])
        self.layers = layers

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UpDecoder(nn.Module):
    """Bottleneck feature -> image: repeated (upsample x2, conv block) back to input resolution."""

    def __init__(self, cin: int, stride: int, width: int = 128, cout: int = 3) -> None:
        super().__init__()
        steps = int(math.log2(stride))
        chans = [max(32, width // (2 ** max(0, i - 1))) for i in range(steps + 1)]
        self.inp = conv_block(cin, chans[0])
        self.ups = nn.ModuleList([conv_block(chans[i], chans[i + 1]) for i in range(steps)])
        self.out = nn.Conv2d(chans[-1], cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.ups:
            x = block(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        return self.out(x)


class SegmentationHead(nn.Module):
    """A compact U-Net over [input, reconstruction] (6 channels) -> anomaly logits at input size."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.e1, self.e2, self.e3 = conv_block(6, w), conv_block(w, 2 * w), conv_block(2 * w, 4 * w)
        self.d2, self.d1 = conv_block(6 * w, 2 * w), conv_block(3 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        d2 = self.d2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="bilinear", align_corners=False), e2], 1))
        d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="bilinear", align_corners=False), e1], 1))
        return self.out(d1)


class GaussianSmooth(nn.Module):
    """Fixed Gaussian blur as two 1-D convs (exportable). Separable because the 2-D kernel (25x25 at
    256 px) cost 12 ms of a 110 ms CPU inference; the result is the same up to float rounding."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        radius = max(1, int(math.ceil(3 * sigma)))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = g / g.sum()
        # Derived from sigma, so not saved: checkpoints hold learned weights only.
        self.register_buffer("kernel_x", g[None, None, None, :], persistent=False)
        self.register_buffer("kernel_y", g[None, None, :, None], persistent=False)
        self.pad = radius
        self.kernel_x: torch.Tensor
        self.kernel_y: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad,) * 4, mode="replicate")
        return F.conv2d(F.conv2d(x, self.kernel_x), self.kernel_y)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # Checkpoints written before the blur was separable carry its 2-D kernel; it is derived, not learned.
        state_dict.pop(prefix + "kernel", None)
        super()._load_from_state_dict(state_dict, prefix, *args)


class _Scored(nn.Module):
    """Shared tail: smooth the raw map, score = max of the smoothed map."""

    def __init__(self, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.input_size = input_size
        self.smooth = GaussianSmooth(sigma=max(1.0, input_size[0] / 64))

    def score(self, raw_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        amap = self.smooth(raw_map)
        return amap, amap.flatten(1).amax(dim=1)


class ScratchAutoencoder(_Scored):
    """DRAEM-style: reconstruction AE (ResNet-50 encoder, random init) + discriminative segmentation head."""

    def __init__(self, input_size: tuple[int, int], encoder_layers: int = 3, width: int = 128,
                 seg_width: int = 32) -> None:
        super().__init__(input_size)
        self.encoder = ResNet50Encoder(encoder_layers)
        cin = STAGE_CHANNELS[encoder_layers]
        self.bottleneck = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
        self.decoder = UpDecoder(width, STAGE_STRIDE[encoder_layers], width)
        self.seg = SegmentationHead(seg_width)

    def reconstruct_and_segment(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recon = self.decoder(self.bottleneck(self.encoder(x)[-1]))
        return recon, self.seg(torch.cat([x, recon], 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, logits = self.reconstruct_and_segment(x)
        return self.score(torch.sigmoid(logits))


class PixelAutoencoder(_Scored):
    """The classic baseline: ResNet-50 encoder + conv decoder; map = per-pixel L1 + (1 - SSIM) error."""

    def __init__(self, input_size: tuple[int, int], encoder_layers: int = 3, width: int = 128) -> None:
        super().__init__(input_size)
        self.encoder = ResNet50Encoder(encoder_layers)
        cin = STAGE_CHANNELS[encoder_layers]
        self.bottleneck = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
        self.decoder = UpDecoder(width, STAGE_STRIDE[encoder_layers], width)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.bottleneck(self.encoder(x)[-1]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from .losses import ssim_map

        recon = self.reconstruct(x)
        err = (x - recon).abs().mean(1, keepdim=True) + (1 - ssim_map(x, recon)).mean(1, keepdim=True)
        return self.score(err * 0.5)


class FeatureAutoencoder(_Scored):
    """Reverse-distillation style: frozen (ImageNet) ResNet-50 features of layer1..L, a fused bottleneck,
    and a decoder that reconstructs every scale; map = sum over scales of (1 - cosine similarity)."""

    def __init__(self, input_size: tuple[int, int], encoder_layers: int = 3, width: int = 256) -> None:
        super().__init__(input_size)
        self.encoder = ResNet50Encoder(encoder_layers)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        n = encoder_layers
        last = STAGE_STRIDE[n]
        self.squeeze = nn.ModuleList([
            nn.Sequential(nn.Conv2d(STAGE_CHANNELS[i], width, 3, stride=last // STAGE_STRIDE[i], padding=1,
                                    bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
            for i in range(1, n + 1)
        ])
        self.fuse = conv_block(width * n, width)
        self.expand = nn.ModuleList([
            nn.Sequential(conv_block(width, width), nn.Conv2d(width, STAGE_CHANNELS[i], 1)) for i in range(1, n + 1)
        ])
        self.strides = [last // STAGE_STRIDE[i] for i in range(1, n + 1)]

    def train(self, mode: bool = True) -> FeatureAutoencoder:
        super().train(mode)
        self.encoder.eval()  # frozen backbone: BN statistics stay ImageNet's
        return self

    def features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        with torch.no_grad():
            feats = self.encoder(x)
        z = self.fuse(torch.cat([sq(f) for sq, f in zip(self.squeeze, feats)], 1))
        recons = []
        for ex, s in zip(self.expand, self.strides):
            up = F.interpolate(z, scale_factor=float(s), mode="bilinear", align_corners=False) if s > 1 else z
            recons.append(ex(up))
        return feats, recons

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, recons = self.features(x)
        amap = torch.zeros_like(x[:, :1])
        for f, r in zip(feats, recons):
            d = 1 - F.cosine_similarity(f, r, dim=1).unsqueeze(1)
            amap = amap + F.interpolate(d, size=self.input_size, mode="bilinear", align_corners=False)
        return self.score(amap)


def build_scratch(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The scratch kind's network from its metadata arch."""
    return ScratchAutoencoder(input_size, int(arch.get("encoder_layers", 3)), int(arch.get("width", 128)),
                              int(arch.get("seg_width", 32)))


def build_pixel(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The pixel kind's network from its metadata arch."""
    return PixelAutoencoder(input_size, int(arch.get("encoder_layers", 3)), int(arch.get("width", 128)))


def build_feature(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The feature kind's network from its metadata arch (at least 2 ResNet stages)."""
    layers = int(arch.get("encoder_layers", 3))
    if layers < 2:
        raise ValueError("encoder_layers: the feature autoencoder needs at least 2 ResNet stages")
    return FeatureAutoencoder(input_size, layers, int(arch.get("width", 256)))


def build_model(kind: str, input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """Build a network from metadata (kind + arch dict) through the kinds' registry (model/kinds.py)."""
    return network_builder(kind)(input_size, arch)  # type: ignore[no-any-return]
