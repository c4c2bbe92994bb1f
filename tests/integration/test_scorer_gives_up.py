"""A scorer that fails on every frame is a fault of the process, not of the parts: after
inspection.max_scorer_failures FAULT verdicts in a row the daemon says why on the retained status and exits 1,
so systemd restarts it (before, it FAULTed every part forever while the watchdog stayed fed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validate_message
from helpers.daemon_process import write_config

from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def poisoned_model(root: Path) -> Path:
    """A real checkpoint whose weights are all NaN (a corrupt file that still loads): every score is NaN."""
    torch = pytest.importorskip("torch", reason="the test model needs torch (pip install .[train])")
    from helpers.tiny_model import make_model

    model = make_model(root, size=64)
    state = torch.load(model / "model.pt", weights_only=True)
    weights = state  # save_model writes the state dict itself
    for value in weights.values():
        if torch.is_tensor(value) and value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(state, model / "model.pt")
    return model


def test_the_daemon_exits_1_with_the_reason_on_status_after_n_scorer_failures_in_a_row(
        tmp_path: Path, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    model = poisoned_model(tmp_path)
    video = tmp_path / "line.avi"
    render_line_video(video, "brushed_metal", n_frames=40, size=64, seed=3)
    config = write_config(tmp_path / "config.yaml", model_dir=model, broker=mosquitto_broker, station="sick",
                          source={"kind": "video", "path": str(video), "loop": True},
                          inspection={"max_scorer_failures": 5})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/sick/#")
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "the scorer failed on 5 frames in a row" in done.stderr
    assert "non-finite" in done.stderr.splitlines()[-1]
    verdicts = [p for t, p in sub.wait_for(5, 10, where=lambda t, p: t.endswith("/verdict"))
                if t.endswith("/verdict")]
    # the 5 in a row, then the frames already captured when it stopped: each still gets its verdict, a FAULT
    assert len(verdicts) >= 5 and {v["verdict"] for v in verdicts} == {"FAULT"}
    assert [v["seq"] for v in verdicts] == list(range(len(verdicts)))
    statuses = [p for t, p in list(sub.messages) if t.endswith("/status")]
    for status in statuses:
        validate_message("ei-rel/sick/status", status)
    scorer = [s["scorer"] for s in statuses if "scorer" in s]
    assert scorer and scorer[-1]["state"] == "failed" and scorer[-1]["consecutive_failures"] == 5
    assert statuses[-1]["state"] == "offline" and statuses[-1]["clean"] is True


def test_max_scorer_failures_must_be_an_integer_at_least_0(tmp_path: Path, mosquitto_broker: Any) -> None:
    config = write_config(tmp_path / "config.yaml", model_dir=tmp_path, broker=mosquitto_broker, station="s",
                          source={"kind": "video", "path": str(tmp_path / "x.avi")},
                          inspection={"max_scorer_failures": -1})
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "inspection.max_scorer_failures: expected an integer >= 0" in done.stderr
