"""Threshold calibration from good images only (false-reject-rate policy).

With only good parts an F1-optimal threshold is undefined (it flags every frame), so:

* image_threshold = q + 0.1 * (q - median), q the (1 - frr_target) quantile of the good validation scores.
  The quantile alone targets the false-reject rate; the small margin absorbs the difference between the
  validation images and tomorrow's lighting without moving the threshold far into defect territory (it is
  bounded by the good scores' own spread, so it is never absurdly high). With fewer than 1/frr_target
  validation images the quantile is close to the maximum good score, which is the cautious side.
* pixel_threshold only shapes the reported regions: the 99.9th percentile of all good validation pixels
  (so good texture is not boxed), raised to at least half the image threshold (so faint halos do not
  merge regions), and never above the image threshold (so a failing part always has a region). For the
  scratch model the map is a smoothed probability: a fixed 0.5 would be wrong after smoothing and would
  leave failing parts with scores below 0.5 without a region, hence the same data-driven rule.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from ..model.metadata import ModelMetadata
from ..model.preprocess import normalise

log = logging.getLogger(__name__)


@torch.inference_mode()
def score_images(model: nn.Module, rgb: np.ndarray, meta: ModelMetadata, device: str,
                 batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Scores [N] and maps [N,h,w] for uint8 RGB images at input size."""
    model.eval()
    scores, maps = [], []
    for i in range(0, len(rgb), batch):
        x = torch.from_numpy(normalise(rgb[i:i + batch], meta)).to(device)
        amap, score = model(x)
        maps.append(amap[:, 0].float().cpu().numpy())
        scores.append(score.float().cpu().numpy())
    return np.concatenate(scores), np.concatenate(maps)


def calibrate(scores: np.ndarray, maps: np.ndarray, frr_target: float = 0.005) -> dict[str, Any]:
    """Thresholds, score statistics and the calibration record from good-only validation data.

    scores: [N] image scores; maps: [N, h, w] anomaly maps of the same images (input resolution).
    """
    if len(scores) == 0:
        raise ValueError("calibration needs at least one good validation image")
    if len(scores) < 1 / frr_target:
        log.warning("only %d good validation images for a false-reject target of %g: the threshold is "
                    "close to the highest good score; more good images give a better estimate",
                    len(scores), frr_target)
    q = float(np.quantile(scores, 1.0 - frr_target))
    median = float(np.median(scores))
    image_threshold = q + 0.1 * max(q - median, 1e-6)
    pixel_q = float(np.quantile(maps, 0.999))
    pixel_threshold = min(image_threshold, max(0.5 * image_threshold, pixel_q))
    stats = {
        "n": len(scores), "mean": float(scores.mean()), "std": float(scores.std()), "max": float(scores.max()),
        "p50": median, "p95": float(np.quantile(scores, 0.95)), "p99": float(np.quantile(scores, 0.99)),
    }
    return {
        "image_threshold": image_threshold, "pixel_threshold": pixel_threshold, "score_stats": stats,
        "calibration": {"policy": "good-only false-reject rate", "frr_target": frr_target, "n_images": len(scores),
                        "margin": "0.1 x (quantile - median)", "good_pixel_q999": pixel_q},
    }
