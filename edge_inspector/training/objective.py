"""What training minimises: the epoch loop's kinds' losses on a batch (chosen through training/kind_training.py),
and the same loss on the validation images."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..model.losses import focal_loss, ssim_map
from .augment import simulate_anomalies
from .kind_training import kind_training, resolve


def mean_over(err: torch.Tensor, part: torch.Tensor | None) -> torch.Tensor:
    """Mean of a per-pixel error [B,C,H,W] over the part's pixels (part [B,1,H,W] in {0,1}), or everywhere."""
    if part is None:
        return err.mean()
    if part.shape[-2:] != err.shape[-2:]:
        part = F.interpolate(part, size=err.shape[-2:], mode="area")
    return (err * part).sum() / (part.sum() * err.shape[1]).clamp_min(1.0)


def compute_loss(model: nn.Module, kind: str, x: torch.Tensor, gen: torch.Generator,
                 amp_dtype: torch.dtype | None = None,
                 gray_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
                 part: torch.Tensor | None = None) -> torch.Tensor:
    """The kind's training objective (training/kind_training.py) on a normalised batch; with `part` ([B,1,H,W],
    1 = the part) the reconstruction counts on the part only and simulated anomalies land on it only.

    Only the network runs under autocast (amp_dtype, on the batch's device); anomaly simulation and the
    losses stay in float32, because SSIM's variance terms (E[x^2] - E[x]^2) cancel catastrophically in
    bf16/fp16.
    """
    target = kind_training(kind).objective
    if target is None:
        raise ValueError(f"model kind {kind!r} is not trained by the epoch loop's objective")
    amp = (torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype is not None
           else contextlib.nullcontext())
    loss: torch.Tensor = resolve(target)(model, x, gen, amp, gray_stats, part)
    return loss


def scratch_loss(model: nn.Module, x: torch.Tensor, gen: torch.Generator, amp: contextlib.AbstractContextManager[Any],
                 gray_stats: tuple[torch.Tensor, torch.Tensor] | None, part: torch.Tensor | None) -> torch.Tensor:
    """DRAEM: reconstruct the batch with simulated anomalies pasted in, and segment where they are."""
    corrupted, masks = simulate_anomalies(x, gen, gray_stats=gray_stats, region=part)
    with amp:
        recon, logits = model.reconstruct_and_segment(corrupted)  # type: ignore[operator]
    recon, logits = recon.float(), logits.float()
    rec = mean_over((recon - x) ** 2, part) + mean_over(1 - ssim_map(recon, x), part)
    return rec + 5.0 * focal_loss(logits, masks)


def pixel_loss(model: nn.Module, x: torch.Tensor, gen: torch.Generator, amp: contextlib.AbstractContextManager[Any],
               gray_stats: tuple[torch.Tensor, torch.Tensor] | None, part: torch.Tensor | None) -> torch.Tensor:
    """L1 + (1 - SSIM) reconstruction of the good batch."""
    with amp:
        recon = model.reconstruct(x)  # type: ignore[operator]
    recon = recon.float()
    return mean_over((recon - x).abs(), part) + mean_over(1 - ssim_map(recon, x), part)


def feature_loss(model: nn.Module, x: torch.Tensor, gen: torch.Generator,
                 amp: contextlib.AbstractContextManager[Any],
                 gray_stats: tuple[torch.Tensor, torch.Tensor] | None, part: torch.Tensor | None) -> torch.Tensor:
    """1 - cosine similarity between the frozen encoder's features and their reconstruction, every scale."""
    with amp:
        feats, recons = model.features(x)  # type: ignore[operator]
    losses = [mean_over(1 - F.cosine_similarity(f.float(), r.float(), dim=1)[:, None], part)
              for f, r in zip(feats, recons)]
    return torch.stack(losses).sum()


@torch.no_grad()
def validation_loss(model: nn.Module, kind: str, x_val: torch.Tensor, device: str, seed: int,
                    gray_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
                    amp_dtype: torch.dtype | None = None, part: torch.Tensor | None = None) -> float:
    """Loss on the validation images, in the training's precision (half the time of fp32 on a bf16 CPU)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)  # the same corruptions every epoch: comparable losses
    total, n = 0.0, 0
    for i in range(0, len(x_val), 8):
        xb = x_val[i:i + 8].to(device)
        pb = None if part is None else part[i:i + 8].to(device)
        total += float(compute_loss(model, kind, xb, gen, amp_dtype, gray_stats, pb)) * len(xb)
        n += len(xb)
    return total / max(1, n)
