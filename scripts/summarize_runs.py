#!/usr/bin/env python3
"""Markdown table of the runs under RUNS_DIR, seeds pooled (the evaluation protocol in docs/benchmarks.md).

    python scripts/summarize_runs.py RUNS_DIR

A run is RUNS_DIR/NAME/ with model/metadata.json and one or more evaluations: eval/ (the whole test set),
eval-dev/ and eval-remainder/ (evaluate --split ... --subset). Runs named NAME-s<seed> are one row per NAME
and evaluation, with the mean and the spread (min-max) over the seeds; every row carries the false-reject
and escape rates at the calibrated threshold next to the AUROCs.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

EVALS = ("eval-remainder", "eval-dev", "eval")
SEED = re.compile(r"^(?P<name>.+)-s(?P<seed>\d+)$")


def collect(runs: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(name, evaluation) -> one record per seed."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(p for p in runs.iterdir() if p.is_dir()):
        meta_path = run / "model" / "metadata.json"
        if not meta_path.is_file():
            continue
        train = json.loads(meta_path.read_text()).get("train", {})
        m = SEED.match(run.name)
        name = m["name"] if m else run.name
        for ev in EVALS:
            report = run / ev / "report.json"
            if report.is_file():
                r = json.loads(report.read_text())
                rows[(name, ev)].append({"report": r, "train": train})
    return rows


def stat(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "n/a"
    if len(got) == 1:
        return f"{got[0]:.3f}"
    return f"{mean(got):.3f} ({min(got):.3f}-{max(got):.3f})"


def pct(values: list[float]) -> str:
    return f"{mean(values):.1%}" + (f" ({min(values):.1%}-{max(values):.1%})" if len(values) > 1 else "")


def main() -> int:
    runs = Path(sys.argv[1])
    print("| run | test images | seeds | image AUROC | pixel AUROC | false rejects at threshold | escapes at threshold "
          "| train s | latency p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, ev), recs in sorted(collect(runs).items()):
        reports = [x["report"] for x in recs]
        at = [r["at_threshold"] for r in reports]
        subset = {"eval": "all", "eval-dev": "dev", "eval-remainder": "remainder"}[ev]
        print(f"| {name} | {subset} ({reports[0]['n_good']} good + {reports[0]['n_defect']} defective) | "
              f"{len(recs)} | {stat([r['image_auroc'] for r in reports])} | {stat([r['pixel_auroc'] for r in reports])}"
              f" | {pct([a['false_reject_rate'] for a in at])} | {pct([a['escape_rate'] for a in at])} | "
              f"{stat([x['train'].get('seconds') for x in recs])} | "
              f"{mean(r['latency_ms']['p50'] for r in reports):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
