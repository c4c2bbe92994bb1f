"""The `dense-ae` and `conv-ae` kinds' training objective and arch (named in training/kind_training.py).

Loss = mean squared error between the grey image the network sees (model/small_autoencoders.py: luma of the
normalised input at grey_size) and its reconstruction, over the part's pixels when a part mask is given (the mask
is resized to grey_size by mean_over).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..model.small_autoencoders import CONV_DEFAULTS, DENSE_DEFAULTS
from .objective import mean_over

# The classic baselines' grey image: 128 x 128, or the input itself when the input is smaller (upsampling a
# small input would only make the dense layers larger).
GREY_SIZE = 128


def small_ae_loss(model: nn.Module, x: torch.Tensor, gen: torch.Generator,
                  amp: contextlib.AbstractContextManager[Any],
                  gray_stats: tuple[torch.Tensor, torch.Tensor] | None, part: torch.Tensor | None) -> torch.Tensor:
    """MSE reconstruction of the grey image."""
    grey = model.to_grey(x)  # type: ignore[operator]
    with amp:
        recon = model.reconstruct(grey)  # type: ignore[operator]
    return mean_over((recon.float() - grey.float()) ** 2, part)


def dense_ae_arch(cfg: Any) -> dict[str, Any]:
    """dense-ae's arch from the run's flags: hidden = 4 x width (512 at the default 128), code = width / 2 (64)."""
    width = int(cfg.width)
    return {**DENSE_DEFAULTS, "hidden": 4 * width, "code": max(1, width // 2), "grey_size": _grey(cfg)}


def conv_ae_arch(cfg: Any) -> dict[str, Any]:
    """conv-ae's arch from the run's flags: the widest encoder stage is width (channels width/4 .. width), a
    16-channel latent at 1/16."""
    return {**CONV_DEFAULTS, "width": int(cfg.width), "grey_size": _grey(cfg)}


def _grey(cfg: Any) -> int:
    return min(GREY_SIZE, int(cfg.input_size))
