"""The development/remainder protocol: a seeded per-type split, selection that refuses a foreign list, and the
seed-pooled summary table of scripts/summarize_runs.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_inspector.evaluation.splits import draw_dev_split, read_split, select

PATHS = [f"test/good/{i:03d}.png" for i in range(20)] + [f"test/crack/{i:03d}.png" for i in range(10)] + \
    ["test/hole/000.png"]


def test_the_dev_split_takes_a_seeded_fraction_of_every_type() -> None:
    dev = draw_dev_split(PATHS, 0.3, seed=0)
    assert dev == draw_dev_split(list(reversed(PATHS)), 0.3, seed=0), "order of discovery does not matter"
    assert dev != draw_dev_split(PATHS, 0.3, seed=1)
    by_type = {t: sum(1 for p in dev if f"/{t}/" in p) for t in ("good", "crack", "hole")}
    assert by_type == {"good": 6, "crack": 3, "hole": 1}  # a rare type still gets one
    with pytest.raises(ValueError, match="fraction"):
        draw_dev_split(PATHS, 1.0)


def test_select_splits_dev_from_remainder_and_refuses_a_foreign_list(tmp_path: Path) -> None:
    split = tmp_path / "x.dev.txt"
    split.write_text("# comment\ntest/crack/001.png\n\ntest/good/003.png  # a good one\n")
    dev = read_split(split)
    assert dev == {"test/crack/001.png", "test/good/003.png"}
    items = list(range(len(PATHS)))
    assert select(items, PATHS, dev, "dev") == [3, 21]
    assert len(select(items, PATHS, dev, "remainder")) == len(PATHS) - 2
    with pytest.raises(ValueError, match="1 listed images are not in this test set"):
        select(items, PATHS, dev | {"test/crack/999.png"}, "dev")
    with pytest.raises(FileNotFoundError, match="make_dev_split"):
        read_split(tmp_path / "missing.txt")


def report(auroc: float, frr: float, esc: float) -> dict[str, object]:
    return {"image_auroc": auroc, "pixel_auroc": None, "n_good": 10, "n_defect": 20,
            "at_threshold": {"false_reject_rate": frr, "escape_rate": esc}, "latency_ms": {"p50": 5.0}}


def test_the_summary_pools_seeds_and_reports_the_rates(tmp_path: Path) -> None:
    for seed, (auroc, frr, esc) in enumerate([(0.90, 0.0, 0.10), (0.96, 0.1, 0.20), (0.93, 0.05, 0.30)]):
        run = tmp_path / f"scratch-tile-s{seed}"
        (run / "model").mkdir(parents=True)
        (run / "model" / "metadata.json").write_text(json.dumps({"train": {"seconds": 60.0 + seed}}))
        (run / "eval-remainder").mkdir()
        (run / "eval-remainder" / "report.json").write_text(json.dumps(report(auroc, frr, esc)))
    script = Path(__file__).resolve().parents[3] / "scripts" / "summarize_runs.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    (row,) = [line for line in out.stdout.splitlines() if line.startswith("| scratch-tile |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:7] == ["remainder (10 good + 20 defective)", "3", "0.930 (0.900-0.960)", "n/a",
                          "5.0% (0.0%-10.0%)", "20.0% (10.0%-30.0%)"]
