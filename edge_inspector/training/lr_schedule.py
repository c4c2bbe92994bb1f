"""The learning-rate schedule: hold, then a cosine down to a floor (recorded in the model's metadata)."""

from __future__ import annotations

import math

LR_HOLD, LR_FLOOR = 0.6, 0.02  # lr_factor's schedule, also recorded in the model's metadata


def lr_factor(progress: float, hold: float = LR_HOLD, floor: float = LR_FLOOR) -> float:
    """Learning-rate multiplier: 1 for the first `hold` of training, then a cosine down to `floor`.

    progress is the fraction of training done (epochs, or wall-clock budget when that ends training
    first); annealing at the end is what settles the reconstruction and the segmentation head.
    """
    if progress <= hold:
        return 1.0
    t = min(1.0, (progress - hold) / (1.0 - hold))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
