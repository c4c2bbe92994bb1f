#!/usr/bin/env python3
"""Markdown table of every run under RUNS_DIR (RUNS_DIR/NAME/model/metadata.json + eval/report.json).

    python scripts/summarize_runs.py RUNS_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(run: Path) -> str | None:
    meta_path, report_path = run / "model" / "metadata.json", run / "eval" / "report.json"
    if not meta_path.is_file():
        return None
    train = json.loads(meta_path.read_text()).get("train", {})
    if not report_path.is_file():
        return f"| {run.name} | - | - | - | - | - | {train.get('epochs')} | {train.get('seconds')} | not evaluated |"
    r = json.loads(report_path.read_text())
    t = r["at_threshold"]

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"| {run.name} | {f(r['image_auroc'])} | {f(r['pixel_auroc'])} | {f(r['au_pro'])} | {f(r['f1_max'])} | "
            f"{f(t['f1'])} (P {f(t['precision'])}, R {f(t['recall'])}) | {train.get('epochs')} | "
            f"{train.get('seconds')} | {r['latency_ms']['p50']:.1f} |")


def main() -> int:
    runs = Path(sys.argv[1])
    rows = [r for d in sorted(p for p in runs.iterdir() if p.is_dir()) if (r := row(d))]
    print("| run | image AUROC | pixel AUROC | AU-PRO | F1-max | F1 at threshold | epochs | train s | "
          "latency p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
