"""Threshold calibration from good images only (false-reject-rate policy).

With only good parts, an F1-optimal threshold is undefined (it would flag every frame). Instead:
image_threshold = the (1 - frr_target) quantile of good validation scores, raised by a margin of
10% of the spread between that quantile and the median, so the expected false-reject rate on good
parts is about frr_target. The pixel threshold, which only shapes the reported regions, is half the
image threshold, but never below the 99.9th percentile of good pixels (so good texture is not boxed)
and never above the image threshold (so a failing part always has a region).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..model.metadata import ModelMetadata
from ..model.preprocess import normalise


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
    """Thresholds and score statistics from good-only validation data."""
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
