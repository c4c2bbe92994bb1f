"""AU-PRO (MVTec AD): per-region overlap integrated over the false-positive rate up to a limit, normalised."""

from __future__ import annotations

import cv2
import numpy as np


def au_pro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3, n_thresholds: int = 200) -> float:
    """Mean per-region overlap as a function of pixel FPR on normal pixels, integrated to fpr_limit / fpr_limit.

    Vectorised with sorted scores: FPR(t) and each region's overlap(t) come from searchsorted, so no
    thresholded copies of the maps are made.
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float32)
    normal = np.sort(maps[~masks])
    if normal.size == 0 or not masks.any():
        raise ValueError("AU-PRO needs both anomalous and normal pixels")
    regions = []
    for mask, amap in zip(masks, maps):
        if not mask.any():
            continue
        n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        for k in range(1, n):
            regions.append(np.sort(amap[labels == k]))
    # Thresholds spaced by normal-pixel quantiles so the FPR axis is sampled evenly up to the limit.
    fprs_wanted = np.linspace(0.0, fpr_limit, n_thresholds)
    thresholds = np.quantile(normal, 1.0 - fprs_wanted)
    # A pixel is predicted anomalous iff its score > t, so t = max(normal) gives FPR exactly 0.
    fpr = 1.0 - np.searchsorted(normal, thresholds, side="right") / normal.size
    pro = np.zeros_like(thresholds, dtype=np.float64)
    for r in regions:
        pro += 1.0 - np.searchsorted(r, thresholds, side="right") / r.size
    pro /= len(regions)
    order = np.argsort(fpr)
    fpr, pro = fpr[order], pro[order]
    keep = fpr <= fpr_limit
    fpr, pro = np.r_[0.0, fpr[keep], fpr_limit], np.r_[pro[keep][0] if keep.any() else 0.0, pro[keep],
                                                       np.interp(fpr_limit, fpr, pro)]
    return float(np.trapezoid(pro, fpr) / fpr_limit)
