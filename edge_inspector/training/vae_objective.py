"""The `vae` kind's training objective and arch (named in training/kind_training.py).

Loss = reconstruction + beta * KL, both per input pixel so that beta does not depend on the input size:
  - reconstruction: the model's own per-pixel map before smoothing (model/vae.py: mean |x - recon| over RGB,
    with SSIM when arch "ssim", or the Gaussian negative log-likelihood when arch "likelihood"), averaged over the
    part's pixels when a part mask is given;
  - KL(q(z|x) || N(0, I)) summed over the latent's elements, divided by the input's H*W, batch mean.
beta (arch, default 1e-3) is small: with a reconstruction term of about 0.1 in the normalised space, a larger
beta pulls the latent to the prior and the reconstruction to a blurred mean part, and small defects then hide in
the blur of every good part too.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..model.vae import DEFAULTS
from .objective import mean_over


def vae_loss(model: nn.Module, x: torch.Tensor, gen: torch.Generator, amp: contextlib.AbstractContextManager[Any],
             gray_stats: tuple[torch.Tensor, torch.Tensor] | None, part: torch.Tensor | None) -> torch.Tensor:
    """Reconstruction of a sampled latent (z = mu + exp(logvar / 2) * eps, eps from `gen`) + beta * KL."""
    with amp:
        mu, logvar = model.encode(x)  # type: ignore[operator]
    mu, logvar = mu.float(), logvar.float()
    eps = torch.randn(mu.shape, generator=gen).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    with amp:
        recon, out_logvar = model.decode(z)  # type: ignore[operator]
    err = model.error_map(x, recon, out_logvar)  # type: ignore[operator]
    kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).flatten(1).sum(1).mean() / (x.shape[-2] * x.shape[-1])
    return mean_over(err, part) + float(model.beta) * kl  # type: ignore[arg-type]


def vae_arch(cfg: Any) -> dict[str, Any]:
    """The vae's arch from the run's flags: the encoder's widest stage is cfg.width, the rest is DEFAULTS."""
    return {**DEFAULTS, "width": int(cfg.width)}
