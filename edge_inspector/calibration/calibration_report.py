"""Calibration report: scores.png, roc.png (with defects), rates.png, per_image.csv and report.md."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.metrics import auroc
from ..evaluation.plots import _plt, _save, plot_roc, plot_score_histogram
from ..evaluation.policies import rate_curves
from .calibration_run import ImageRow
from .profile import Profile


def verdict(row: ImageRow, threshold: float, require_region: bool = True) -> str:
    """FAIL iff score >= threshold and (a region survived the filters or regions are not required)."""
    return "FAIL" if row.score >= threshold and (row.has_region or not require_region) else "PASS"


def write_report(profile: Profile, rows: Sequence[ImageRow], info: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the report files into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    thr, old = profile.thresholds["image"], float(info["old_threshold"])
    labels = np.array([r.label == "defect" for r in rows])
    scores = np.array([r.score for r in rows])
    title = f"{profile.product}/{profile.station}"
    paths = [_csv(rows, thr, old, out_dir / "per_image.csv"),
             plot_score_histogram(labels, scores, thr, out_dir / "scores.png", f"{title} scores")]
    auc = None
    if labels.any():
        auc = auroc(labels, scores)
        paths.append(plot_roc(labels, scores, auc, out_dir / "roc.png", f"{title} image ROC"))
    paths.append(_rates_plot(scores[~labels], scores[labels], thr, float(info["confidence"]),
                             out_dir / "rates.png", title))
    paths.append(_markdown(profile, rows, info, auc, out_dir / "report.md"))
    return paths


def _csv(rows: Sequence[ImageRow], thr: float, old: float, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "defect_type", "score", "map_max", "region", "verdict_new", "verdict_old"])
        for r in rows:
            w.writerow([str(r.path), r.label, r.defect_type, f"{r.score:.6f}", f"{r.map_max:.6f}",
                        int(r.has_region), verdict(r, thr), verdict(r, old, require_region=False)])
    return path


def _rates_plot(good: np.ndarray, bad: np.ndarray, thr: float, confidence: float, path: Path, title: str) -> Path:
    plt = _plt()
    everything = np.r_[good, bad, thr]
    lo, hi = float(everything.min()), float(everything.max())
    span = max(hi - lo, 1e-6)
    grid = np.linspace(lo - 0.05 * span, hi + 0.05 * span, 200)
    c = rate_curves(good, bad, grid, confidence)
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    ax.plot(grid, c["false_reject"], color="tab:green", label="false reject (sample)")
    ax.plot(grid, c["false_reject_upper"], color="tab:green", ls=":", label=f"false reject ({confidence:.0%} upper)")
    if len(bad):
        ax.plot(grid, c["escape"], color="tab:red", label="escape (sample)")
        ax.plot(grid, c["escape_upper"], color="tab:red", ls=":", label=f"escape ({confidence:.0%} upper)")
    ax.axvline(thr, color="k", ls="--", label=f"threshold {thr:.4g}")
    ax.set(xlabel="image threshold", ylabel="rate", ylim=(-0.02, 1.02), title=f"{title}: expected rates")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def _pct(v: float | None) -> str:
    return "n/a (no defective images)" if v is None else f"{v:.2%}"


def _markdown(profile: Profile, rows: Sequence[ImageRow], info: dict[str, Any], auc: float | None,
              path: Path) -> Path:
    thr, old = profile.thresholds["image"], float(info["old_threshold"])
    e = profile.expected

    def count(label: str, threshold: float, region: bool) -> int:
        return sum(verdict(r, threshold, region) == "FAIL" for r in rows if r.label == label)

    n_good, n_bad = profile.samples["good"], profile.samples["defect"]
    lines = [
        f"# Calibration {profile.product}/{profile.station} r{profile.revision}", "",
        f"- model: {profile.model['model_id']} (fingerprint {profile.model['fingerprint']}), "
        f"backend {info['backend']}, dir {info['model_dir']}",
        f"- policy: {profile.policy['name']} {profile.policy['params']}",
        f"- image threshold: {thr:.6g} (model's old threshold {old:.6g}); pixel threshold "
        f"{profile.thresholds['pixel']:.6g}; regions >= {profile.regions['min_area']} px with peak >= "
        f"{profile.regions['min_peak']:.6g}; ROI {profile.roi}; ignore mask {profile.ignore_mask}",
        f"- samples: {n_good} good, {n_bad} defective" + (f"; image AUROC {auc:.3f}" if auc is not None else ""),
        f"- expected false-reject rate: {_pct(e['false_reject_rate'])} on the sample, at most "
        f"{_pct(e['false_reject_upper'])} with {float(info['confidence']):.0%} confidence",
        f"- expected escape rate: {_pct(e['escape_rate'])}" + ("" if e["escape_upper"] is None else
                                                               f", at most {_pct(e['escape_upper'])}"),
        "", "| threshold | good rejected (score only) | good rejected (with region filters) | defects passed |",
        "|---|---|---|---|"]
    for name, t in (("new", thr), ("old (model)", old)):
        passed = n_bad - count("defect", t, True) if n_bad else "n/a"
        lines.append(f"| {name} {t:.6g} | {count('good', t, False)}/{n_good} | {count('good', t, True)}/{n_good} | "
                     f"{passed}{f'/{n_bad}' if n_bad else ''} |")
    lines += ["", "## Warnings", ""] + ([f"- {w}" for w in profile.warnings] or ["- none"])
    lines += ["", "Files: scores.png, rates.png" + (", roc.png" if auc is not None else "") + ", per_image.csv", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
