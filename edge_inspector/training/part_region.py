"""The part region while training (`train --ignore-mask/--auto-mask`): the mask to train with, the
augmentation that moves it with its image, and validation scores over the part only."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..model.part_mask import load_ignore, part_scores
from .augment import augment_batch
from .data import read_bgr

log = logging.getLogger(__name__)


def training_ignore_mask(mask_file: Path | None, auto: bool, margin: int, files: list[Path]) -> np.ndarray | None:
    """The ignore mask (uint8, nonzero = not the part) a run trains with, or None for whole frames."""
    if mask_file is not None and auto:
        raise ValueError("--ignore-mask and --auto-mask: give one of them")
    if mask_file is not None:
        ignore = load_ignore(Path(mask_file))
    elif auto:
        from ..model.part_geometry import auto_ignore_mask

        ignore = auto_ignore_mask([read_bgr(f) for f in files], margin=margin)
    else:
        return None
    log.info("part mask: %.1f%% of the frame is the part; background neither trains nor scores",
             100 * float(np.mean(ignore == 0)))
    return ignore


def augment_with_part(x: torch.Tensor, part: torch.Tensor | None, gen: torch.Generator, hflip: bool,
                      vflip: bool, max_rotation: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """augment_batch on the images and, through the very same flips and rotation, on their part masks."""
    if part is None:
        return augment_batch(x, gen, hflip, vflip, max_rotation), None
    both = augment_batch(torch.cat([x, part], dim=1), gen, hflip, vflip, max_rotation)
    return both[:, :3].contiguous(), (both[:, 3:] > 0.5).float()


def scores_on_part(scores: np.ndarray, maps: np.ndarray, part: np.ndarray | None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, maps) of validation images with the background set aside: the max over the part and maps
    zeroed off it, so the model's threshold is the part's (part [N,1,h,w] in {0,1}, or None)."""
    if part is None:
        return scores, maps
    inside = part[:, 0] > 0.5
    return part_scores(maps, inside), np.where(inside, maps, np.float32(0))
