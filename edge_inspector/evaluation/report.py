"""Evaluation results: computed from arrays, written as JSON + Markdown + PNG plots."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import ThresholdMetrics, at_threshold, auroc, f1_max, pixel_auroc
from .pro import au_pro


@dataclass
class EvaluationResult:
    """Every number the MVTec-style protocol reports, plus latency and the environment."""

    category: str
    model_id: str
    model_kind: str
    n_good: int
    n_defect: int
    image_auroc: float
    pixel_auroc: float | None
    au_pro: float | None
    f1_max: float
    f1_max_threshold: float
    threshold: float
    at_threshold: ThresholdMetrics
    per_defect: dict[str, dict[str, float | int]]
    latency_ms: dict[str, float]
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_arrays(category: str, defect_types: list[str], scores: np.ndarray, maps: np.ndarray | None,
                    masks: np.ndarray | None, threshold: float, model_id: str, model_kind: str,
                    latencies_ms: list[float], environment: dict[str, Any]) -> EvaluationResult:
    """Metrics from per-image scores (and maps/masks at a common size, masks all-False for good images)."""
    labels = np.array([t != "good" for t in defect_types])
    scores = np.asarray(scores, dtype=np.float64)
    f1, f1_thr = f1_max(labels, scores)
    per_defect: dict[str, dict[str, float | int]] = {}
    good_scores = scores[~labels]
    for kind in sorted(set(defect_types) - {"good"}):
        sel = np.array([t == kind for t in defect_types])
        sub_labels = np.r_[np.zeros(len(good_scores), bool), np.ones(sel.sum(), bool)]
        per_defect[kind] = {"n": int(sel.sum()), "image_auroc": auroc(sub_labels, np.r_[good_scores, scores[sel]]),
                            "mean_score": float(scores[sel].mean()),
                            "recall_at_threshold": float((scores[sel] >= threshold).mean())}
    pix = pro = None
    if maps is not None and masks is not None and masks.any():
        pix, pro = pixel_auroc(masks, maps), au_pro(masks, maps)
    lat = np.asarray(latencies_ms) if latencies_ms else np.array([np.nan])
    return EvaluationResult(
        category, model_id, model_kind, int((~labels).sum()), int(labels.sum()), auroc(labels, scores), pix, pro,
        f1, f1_thr, float(threshold), at_threshold(labels, scores, threshold), per_defect,
        {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "mean": float(lat.mean())},
        environment)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def format_summary(r: EvaluationResult) -> str:
    t = r.at_threshold
    return "\n".join([
        f"{r.category}: {r.model_kind} {r.model_id} on {r.n_good} good + {r.n_defect} defective images",
        f"  image AUROC {_fmt(r.image_auroc)}  pixel AUROC {_fmt(r.pixel_auroc)}  AU-PRO(0.3) {_fmt(r.au_pro)}  "
        f"F1-max {r.f1_max:.4f}",
        f"  at threshold {r.threshold:.4f}: accuracy {t.accuracy:.3f} precision {t.precision:.3f} "
        f"recall {t.recall:.3f} F1 {t.f1:.3f} (TP {t.tp} FP {t.fp} TN {t.tn} FN {t.fn}); false-reject rate "
        f"{t.false_reject_rate:.1%}, escape rate {t.escape_rate:.1%}",
        f"  latency per image p50 {r.latency_ms['p50']:.1f} ms, p99 {r.latency_ms['p99']:.1f} ms",
    ])


def write_report(r: EvaluationResult, out_dir: Path) -> dict[str, Path]:
    """report.json and report.md (the plots are written by the caller, which has the images)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md"}
    paths["json"].write_text(json.dumps(r.to_dict(), indent=2, default=str) + "\n")
    t = r.at_threshold
    lines = [
        f"# Evaluation: {r.category}", "",
        f"Model `{r.model_id}` ({r.model_kind}); {r.n_good} good and {r.n_defect} defective test images.", "",
        "| metric | value |", "|---|---|",
        f"| image AUROC | {_fmt(r.image_auroc)} |", f"| pixel AUROC | {_fmt(r.pixel_auroc)} |",
        f"| AU-PRO (FPR <= 0.3) | {_fmt(r.au_pro)} |", f"| F1-max | {r.f1_max:.4f} (at {r.f1_max_threshold:.4f}) |",
        f"| threshold (calibrated) | {r.threshold:.4f} |", f"| accuracy | {t.accuracy:.4f} |",
        f"| precision | {t.precision:.4f} |", f"| recall | {t.recall:.4f} |", f"| F1 | {t.f1:.4f} |",
        f"| false-reject rate | {t.false_reject_rate:.4f} |", f"| escape rate | {t.escape_rate:.4f} |",
        f"| latency p50 / p99 | {r.latency_ms['p50']:.1f} / {r.latency_ms['p99']:.1f} ms |", "",
        "Confusion matrix at the threshold:", "", "| | predicted defective | predicted good |", "|---|---|---|",
        f"| defective | {t.tp} | {t.fn} |", f"| good | {t.fp} | {t.tn} |", "",
        "| defect type | n | image AUROC vs good | mean score | recall at threshold |", "|---|---|---|---|---|",
        *[f"| {k} | {v['n']} | {v['image_auroc']:.4f} | {v['mean_score']:.4f} | {v['recall_at_threshold']:.3f} |"
          for k, v in r.per_defect.items()],
        "", "Environment: " + ", ".join(f"{k} {v}" for k, v in r.environment.items()), "",
        "Plots: roc.png, scores.png, worst_cases.png", "",
    ]
    paths["markdown"].write_text("\n".join(lines))
    return paths
