"""A calibration profile written by the real `calibrate` verb drives the real daemon: its thresholds and region
filters judge the frames, the retained status announces its revision, and a profile made for another model
stops `run` with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from contract_schemas import validate_message
from helpers.daemon_process import write_config
from helpers.profile import calibrate

from edge_inspector.config import load_config
from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def test_daemon_judges_with_the_profile_and_announces_it(tmp_path: Path, trained_model,  # type: ignore[no-untyped-def]
                                                         mosquitto_broker) -> None:
    model_dir, category, size = trained_model
    data = model_dir.parent / "data" / category
    # a fixed threshold no model would choose, so the verdicts show which numbers judged them
    profile_path = calibrate(model_dir, data, tmp_path / "cal", "--policy", "fixed", "--threshold", "0.6123",
                             "--pixel-threshold", "0.55", "--min-area", "4")
    profile = yaml.safe_load(profile_path.read_text())
    assert profile["revision"] == 1 and profile["thresholds"] == {"image": 0.6123, "pixel": 0.55}
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=12, defect_rate=0.5, size=size, seed=3)
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(video)}, station="prof",
                          inspection={"profile": str(profile_path), "threshold": 0.1})
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-rel/prof/#").start()
    try:
        summary = Daemon(load_config(config)).run()
        messages = sub.wait_for(14, timeout=10.0)
    finally:
        sub.stop()
    for topic, payload in messages:
        validate_message(topic, payload)
    verdicts = [p for t, p in messages if t.endswith("/verdict")]
    assert summary.frames == len(verdicts) == 12
    assert {v["threshold"] for v in verdicts} == {0.6123}, "the profile, not inspection.threshold, judges"
    for v in verdicts:
        assert (v["verdict"] == "FAIL") == (v["score"] >= 0.6123 and bool(v["boxes"]))
    online = [p for t, p in messages if t.endswith("/status") and p["state"] == "online" and "profile" in p]
    assert online and online[0]["profile"] == {"product": "plate", "station": "s1", "revision": 1,
                                               "fingerprint": profile["model"]["fingerprint"],
                                               "image_threshold": 0.6123, "pixel_threshold": 0.55}


def test_a_profile_for_another_model_stops_run_with_one_line(tmp_path: Path, trained_model,  # type: ignore[no-untyped-def]
                                                             mosquitto_broker) -> None:
    model_dir, category, size = trained_model
    profile_path = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal")
    profile = yaml.safe_load(profile_path.read_text())
    profile["model"]["fingerprint"] = "0123456789abcdef:fp32"  # as if calibrated on another model's weights
    profile_path.write_text(yaml.safe_dump(profile, sort_keys=False))
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=2, defect_rate=0.0, size=size, seed=4)
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(video)}, station="prof2",
                          inspection={"profile": str(profile_path)})
    for verb in (["run", "--config"], ["validate-config"]):
        res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", *verb, str(config)],
                             capture_output=True, text=True, timeout=120)
        errors = [line for line in res.stderr.splitlines() if "error:" in line]
        assert res.returncode == 2, res.stderr[-2000:]
        assert len(errors) == 1 and "was calibrated for model" in errors[0] and "0123456789abcdef" in errors[0]
        assert "Traceback" not in res.stderr
