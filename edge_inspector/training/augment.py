"""Simulated anomalies for training from good images only (DRAEM-style).

Masks come from smooth random noise (low-resolution noise upsampled at a few scales, thresholded), and
the masked region is blended with foreign texture: another training image, shifted and colour-jittered,
or a procedural pattern. The network never sees a real defect while training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _kth_smallest(rows: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """rows.sort(dim=1).values[i, k[i]] for every row i, without sorting whole rows."""
    return torch.stack([row.kthvalue(int(ki) + 1).values for row, ki in zip(rows, k)])


def noise_masks(n: int, h: int, w: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """[n,1,h,w] binary masks covering roughly 0.5-8% of the image in smooth, irregular blobs."""
    total = torch.zeros(n, 1, h, w, device=device)
    for cells in (4, 8, 16):
        low = torch.rand(n, 1, cells, cells, generator=gen).to(device)
        total += F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False) / math.sqrt(cells)
    coverage = torch.empty(n).uniform_(0.005, 0.08, generator=gen)
    flat = total.flatten(1)
    k = ((1 - coverage) * (h * w - 1)).long().to(device)
    thresh = _kth_smallest(flat, k)
    return (total > thresh.view(n, 1, 1, 1)).float()


def procedural_texture(n: int, h: int, w: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Stripes and blotches in normalised-image range, [n,3,h,w]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    freq = torch.empty(n, 1, 1).uniform_(4, 40, generator=gen)
    angle = torch.empty(n, 1, 1).uniform_(0, math.pi, generator=gen)
    stripes = torch.sin(2 * math.pi * freq * (xx * torch.cos(angle) + yy * torch.sin(angle)))
    colour = torch.empty(n, 3, 1, 1).uniform_(-2, 2, generator=gen)
    return (stripes[:, None] * torch.empty(n, 1, 1, 1).uniform_(0.3, 1.5, generator=gen) + colour).to(device)


def crack_masks(n: int, h: int, w: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """[n,1,h,w] thin curved lines (a narrow level set of smooth noise, cut to a random region): cracks."""
    low = torch.rand(n, 1, 6, 6, generator=gen).to(device)
    field = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    band = (field - field.flatten(1).median(dim=1).values.view(n, 1, 1, 1)).abs()
    width = torch.empty(n).uniform_(0.004, 0.012, generator=gen).to(device)  # fraction of the image on the line
    k = (width * (h * w - 1)).long()
    lines = band <= _kth_smallest(band.flatten(1), k).view(n, 1, 1, 1)
    region = noise_masks(n, h, w, gen, device) + noise_masks(n, h, w, gen, device)
    # Widen the blobs to cut line segments: a 31x31 max filter, separably (the same result, 9x faster on a CPU).
    region = F.max_pool2d(region.clamp(max=1), (31, 1), stride=1, padding=(15, 0))
    region = F.max_pool2d(region, (1, 31), stride=1, padding=(0, 15))
    return (lines & (region > 0)).float()


def _to_gray(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Normalised colour batch -> the same batch with every pixel's colour replaced by its grey level."""
    return ((x * std + mean).mean(1, keepdim=True) - mean) / std


def simulate_anomalies(
    x: torch.Tensor, gen: torch.Generator, p_anomaly: float = 0.5,
    gray_stats: tuple[torch.Tensor, torch.Tensor] | None = None, region: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt about p_anomaly of a normalised batch; returns (corrupted batch, masks [B,1,H,W]).

    gray_stats (mean, std as [1,3,1,1]) marks grayscale data: the foreign content is then grey too, since
    colour would be a shortcut the segmentation head learns instead of texture, and half the anomalies
    are thin cracks or dark/bright spots (what grey surfaces such as magnetic tiles fail with).
    region ([B,1,H,W], 1 = the part) keeps every anomaly on the part: a defect on the belt teaches nothing.
    """
    n, _, h, w = x.shape
    device = x.device
    masks = noise_masks(n, h, w, gen, device)
    chosen = (torch.rand(n, generator=gen) < p_anomaly).float().to(device).view(n, 1, 1, 1)
    shift = int(torch.randint(1, max(2, n), (1,), generator=gen))
    foreign = torch.roll(x, shifts=shift, dims=0).flip(-1)
    foreign = torch.roll(foreign, shifts=(h // 3, w // 5), dims=(2, 3))
    foreign = foreign * torch.empty(n, 3, 1, 1).uniform_(0.5, 1.5, generator=gen).to(device)
    foreign = foreign + torch.empty(n, 3, 1, 1).uniform_(-0.8, 0.8, generator=gen).to(device)
    use_pattern = (torch.rand(n, generator=gen) < 0.4).float().to(device).view(n, 1, 1, 1)
    foreign = use_pattern * procedural_texture(n, h, w, gen, device) + (1 - use_pattern) * foreign
    beta = torch.empty(n, 1, 1, 1).uniform_(0.0, 0.7, generator=gen).to(device)
    if gray_stats is not None:
        mean, std = (t.to(device) for t in gray_stats)
        # Half the grey anomalies shade the part itself (70% darker, 30% brighter: holes, spots), the rest
        # blend in foreign texture; independently, half take a thin crack mask instead of a blob.
        gain = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < 0.7,
                           torch.empty(n, 1, 1, 1).uniform_(0.2, 0.7, generator=gen),
                           torch.empty(n, 1, 1, 1).uniform_(1.3, 1.8, generator=gen)).to(device)
        shaded = ((x * std + mean) * gain - mean) / std
        use_shade = (torch.rand(n, generator=gen) < 0.5).float().to(device).view(n, 1, 1, 1)
        foreign = _to_gray(use_shade * shaded + (1 - use_shade) * foreign, mean, std)
        use_crack = (torch.rand(n, generator=gen) < 0.5).float().to(device).view(n, 1, 1, 1)
        masks = use_crack * crack_masks(n, h, w, gen, device) + (1 - use_crack) * masks
    masks = masks * chosen
    if region is not None:
        masks = masks * region
    blended = x * (1 - masks) + masks * (beta * x + (1 - beta) * foreign)
    return blended, masks


def augment_batch(x: torch.Tensor, gen: torch.Generator, hflip: bool = False, vflip: bool = False,
                  max_rotation: float = 0.0) -> torch.Tensor:
    """Light geometric augmentation of a normalised batch, each off by default: flips are wrong for
    oriented parts (a mirrored connector is a defect), and rotations only suit rotation-free textures."""
    n = x.shape[0]
    if hflip:
        flip = (torch.rand(n, generator=gen) < 0.5).to(x.device).view(n, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
    if vflip:
        flip = (torch.rand(n, generator=gen) < 0.5).to(x.device).view(n, 1, 1, 1)
        x = torch.where(flip, x.flip(-2), x)
    if max_rotation > 0:
        angle = torch.empty(n).uniform_(-max_rotation, max_rotation, generator=gen) * math.pi / 180
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return x
