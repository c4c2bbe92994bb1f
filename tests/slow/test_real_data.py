"""Train and evaluate on real MVTec-layout data from ../shared/data (skipped without it; opt in with EI_RUN_SLOW=1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.data]
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.parametrize("category", ["mvtec_bottle/bottle"])
def test_scratch_autoencoder_detects_real_defects(tmp_path: Path, category: str) -> None:
    """A short CPU run (64 px, 20 epochs, ~4 min on 2 cores) must already separate good from defective parts."""
    pytest.importorskip("torch")
    from edge_inspector.cli.evaluate import cmd_evaluate as evaluate
    from edge_inspector.training.loop import TrainConfig, train

    data = SHARED / category
    result = train(data, tmp_path / "model", TrainConfig(kind="scratch", input_size=64, encoder_layers=2, width=64,
                                                          epochs=20, patience=100, lr=5e-4, seed=0), progress=False)
    out = tmp_path / "eval"
    args = argparse.Namespace(data=data, model=result.model_dir, backend="torch", device="cpu", out=out)
    assert evaluate(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_good"] > 0 and report["n_defect"] > 0
    assert report["image_auroc"] >= 0.8, report["image_auroc"]
    assert report["pixel_auroc"] >= 0.8, report["pixel_auroc"]
    for png in ("roc.png", "scores.png", "worst_cases.png"):
        assert (out / png).stat().st_size > 1000
