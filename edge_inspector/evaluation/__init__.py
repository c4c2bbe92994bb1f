"""Evaluation in the MVTec AD protocol: AUROC, pixel AUROC, AU-PRO, F1; reports and plots."""

from .metrics import ThresholdMetrics, at_threshold, auroc, f1_max, pixel_auroc, roc_curve
from .pro import au_pro
from .report import EvaluationResult, evaluate_arrays, format_summary, write_report

__all__ = [
    "EvaluationResult",
    "ThresholdMetrics",
    "at_threshold",
    "au_pro",
    "auroc",
    "evaluate_arrays",
    "f1_max",
    "format_summary",
    "pixel_auroc",
    "roc_curve",
    "write_report",
]
