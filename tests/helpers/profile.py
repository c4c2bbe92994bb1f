"""A calibration profile for the integration tests, written by the real `edge-inspector calibrate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# a fixed threshold no model would choose, so the verdicts show which numbers judged them
FIXED = ("--policy", "fixed", "--threshold", "0.6123", "--pixel-threshold", "0.55", "--min-area", "4")


def calibrate(model_dir: Path, data: Path, out: Path, *extra: str) -> Path:
    """plate/s1 calibrated on `data` (good and defects) with the torch backend; `extra` are calibrate flags."""
    res = subprocess.run(
        [sys.executable, "-m", "edge_inspector.cli", "calibrate", "--model", str(model_dir), "--good", str(data),
         "--defects", str(data), "--product", "plate", "--station", "s1", "--out", str(out), "--backend", "torch",
         "--device", "cpu", "--threads", "1", "--author", "ana", "--reason", "integration test", *extra],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return out / "plate" / "s1.yaml"
