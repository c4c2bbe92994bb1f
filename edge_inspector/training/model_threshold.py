"""A model's own thresholds, from good validation images only: the same rule as a profile's default policy.

With only good parts an F1-optimal threshold is undefined (it flags every frame), so:

* image_threshold = evaluation.policies.target_false_reject at its defaults (DEFAULT_TARGET 0.5 % false
  rejects, DEFAULT_CONFIDENCE 95 %), the policy `calibrate` applies by default: the lowest threshold whose
  one-sided binomial (Clopper-Pearson) upper bound on the false-reject rate is within the target. Supporting
  0.5 % at 95 % takes at least 598 good images (597 with none rejected is not enough); with fewer the threshold is
  the highest good score plus 10 % of the good spread (highest minus median), and the calibration record
  carries the warning. A model's threshold and a profile's therefore mean the same thing.
* The scores are the ones the daemon computes, through the same backend loop (training/validation_scores.py):
  the max of the map over the inspected pixels (the part mask, if the model has one) and, for a tiled model, of
  the stitched full-frame map (training/tiled_validation.py).
* pixel_threshold only shapes the reported regions: the 99.9th percentile of all good validation pixels
  (so good texture is not boxed), raised to at least half the image threshold (so faint halos do not
  merge regions), and never above the image threshold (so a failing part always has a region). For the
  scratch model the map is a smoothed probability: a fixed 0.5 would be wrong after smoothing and would
  leave failing parts with scores below 0.5 without a region, hence the same data-driven rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..evaluation.policies import DEFAULT_CONFIDENCE, DEFAULT_TARGET, target_false_reject

log = logging.getLogger(__name__)


def calibrate(scores: np.ndarray, maps: np.ndarray | Sequence[np.ndarray], frr_target: float = DEFAULT_TARGET,
              confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """Thresholds, score statistics and the calibration record from good-only validation data.

    scores: [N] image scores; maps: the anomaly maps of the same images, [N, h, w] or a list of maps of any
    sizes (a tiled model's stitched maps at each frame's size).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        raise ValueError("calibration needs at least one good validation image")
    result = target_false_reject(scores, frr_target, confidence)
    for warning in result.warnings:
        log.warning("model threshold: %s", warning)
    image_threshold = result.threshold
    pixels = np.concatenate([np.asarray(m, np.float32).ravel() for m in maps])
    pixel_q = float(np.quantile(pixels, 0.999))
    pixel_threshold = min(image_threshold, max(0.5 * image_threshold, pixel_q))
    stats = {
        "n": len(scores), "mean": float(scores.mean()), "std": float(scores.std()), "max": float(scores.max()),
        "p50": float(np.median(scores)), "p95": float(np.quantile(scores, 0.95)),
        "p99": float(np.quantile(scores, 0.99)),
    }
    return {
        "image_threshold": image_threshold, "pixel_threshold": pixel_threshold, "score_stats": stats,
        "calibration": {"policy": result.policy, "params": result.params, "frr_target": frr_target,
                        "n_images": len(scores), "false_reject_rate": result.false_reject_rate,
                        "false_reject_upper": result.false_reject_upper, "warnings": list(result.warnings),
                        "good_pixel_q999": pixel_q},
    }
