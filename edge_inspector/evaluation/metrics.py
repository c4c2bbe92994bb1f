"""Image- and pixel-level detection metrics (numpy only): ROC/AUROC with ties, F1-max, metrics at a threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score (ties grouped), starting at (0, 0)."""
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both classes, got {n_pos} anomalous and {n_neg} normal samples")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_group]
    fps = (last_of_group + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return fpr, tpr, np.r_[np.inf, s[last_of_group]]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids, so ties count one half)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def pixel_auroc(masks: np.ndarray, maps: np.ndarray) -> float:
    """AUROC over every pixel of every image (masks bool [N,H,W], maps float [N,H,W])."""
    return auroc(np.asarray(masks).ravel(), np.asarray(maps, dtype=np.float32).ravel())


def f1_max(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Best F1 over all thresholds and the threshold reaching it (predict anomalous iff score >= threshold)."""
    fpr, tpr, thresholds = roc_curve(labels, scores)
    y = np.asarray(labels).astype(bool)
    n_pos, n_neg = y.sum(), (~y).sum()
    tp, fp = tpr * n_pos, fpr * n_neg
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    f1 = np.divide(2 * precision * tpr, precision + tpr, out=np.zeros_like(tp), where=(precision + tpr) > 0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion matrix and rates at one threshold; a ratio with a zero denominator is 0.0."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    false_reject_rate: float  # good parts rejected: fp / (fp + tn)
    escape_rate: float  # defective parts passed: fn / (fn + tp)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Metrics of the rule `anomalous iff score >= threshold`."""
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(scores) >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    tn, fn = int((~pred & ~y).sum()), int((~pred & y).sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return ThresholdMetrics(float(threshold), tp, fp, tn, fn, _ratio(tp + tn, len(y)), precision, recall,
                            _ratio(2 * precision * recall, precision + recall), _ratio(fp, fp + tn),
                            _ratio(fn, fn + tp))
