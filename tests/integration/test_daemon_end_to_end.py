"""The whole loop with real parts: generated line video -> daemon -> real Mosquitto -> real subscriber.

The model is trained here, from scratch, on synthetic good parts (session fixture in conftest), so the
verdicts are the product's own, not fixtures.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from contract_schemas import validate_message

from edge_inspector.config import load_config
from edge_inspector.publish import read_audit
from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import load_truth, render_line_video

pytestmark = pytest.mark.integration
FRAMES = 60  # the end-to-end line video: enough defective parts (24) that recall is measured, not guessed


def write_config(tmp_path: Path, video: Path, model_dir: Path, broker, **source) -> Path:  # type: ignore[no-untyped-def]
    cfg = {
        "station_id": "itest",
        "source": {"kind": "video", "path": str(video), **source},
        "model": {"path": str(model_dir), "backend": "torch", "device": "cpu"},
        "inspection": {"min_defect_area": 4},
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "ei-test"},
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_every_frame_gets_exactly_one_verdict_in_order(tmp_path: Path, trained_model, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=FRAMES, defect_rate=0.4, size=size, seed=77)
    truth = load_truth(video)
    cfg = load_config(write_config(tmp_path, video, model_dir, mosquitto_broker))
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-test/itest/#").start()
    try:
        summary = Daemon(cfg).run()
        deadline = time.monotonic() + 60.0  # until every verdict and reject arrived, however busy the machine
        while True:
            messages = sub.wait_for(10_000, timeout=0.5)
            topics = [t.rsplit("/", 1)[-1] for t, _ in messages]
            done = (topics.count("verdict"), topics.count("reject")) == (FRAMES, summary.failed + summary.faults)
            if done or time.monotonic() > deadline:
                break
    finally:
        sub.stop()
    for topic, payload in messages:
        validate_message(topic, payload)
    verdicts = [p for t, p in messages if t.endswith("/verdict")]
    rejects = [p for t, p in messages if t.endswith("/reject")]
    assert summary.frames == len(truth) == FRAMES
    assert [v["seq"] for v in verdicts] == list(range(FRAMES)), "one verdict per frame, in order, no duplicates"
    assert [v["source_index"] for v in verdicts] == [t.index for t in truth]
    assert [r["seq"] for r in rejects] == [v["seq"] for v in verdicts if v["verdict"] in ("FAIL", "FAULT")]
    assert all(v["verdict"] in ("PASS", "FAIL") for v in verdicts), "a replayed file loses no frame"

    good = [v for v, t in zip(verdicts, truth) if not t.defective]
    bad = [v for v, t in zip(verdicts, truth) if t.defective]
    good_pass = sum(v["verdict"] == "PASS" for v in good) / len(good)
    bad_fail = sum(v["verdict"] == "FAIL" for v in bad) / len(bad)
    accuracy = (good_pass * len(good) + bad_fail * len(bad)) / len(verdicts)
    print(f"good parts passed {good_pass:.2f}, defective parts failed {bad_fail:.2f}, accuracy {accuracy:.2f}")
    # Measured on 2026-12-06 with the session model (tests/integration/conftest.py: 30 epochs, seed 0, fp32,
    # the same weights on every run: two trainings on this machine gave the same threshold to the last bit):
    # this 60-frame video (36 good, 24 defective) passes 0.97 of good parts (35 of 36) and fails 0.79 of
    # defective ones (19 of 24), accuracy 0.90. Other line videos of the same kind (30 frames, seeds 78-81)
    # measured recall 0.77-0.92 and 0.94-1.00 of good parts passed; the first 30 frames of seed 77 alone, the
    # old test video, only 0.50 (5 of 10: faint spots). The bounds leave about 3 defective parts of margin and
    # fail for a model no better than chance: a verdict that ignores the part fails defective and good parts
    # alike, so recall minus the false-reject rate (Youden's J, 0.76 measured) would be about 0.
    assert good_pass >= 0.85, f"good parts passed: {good_pass:.2f}"
    assert bad_fail >= 0.65, f"defective parts failed: {bad_fail:.2f}"
    assert bad_fail - (1.0 - good_pass) >= 0.55, f"Youden's J {bad_fail - (1.0 - good_pass):.2f}"
    assert accuracy >= 0.8, f"verdict accuracy {accuracy:.2f}"
    for v in verdicts:
        if v["verdict"] == "FAIL":
            assert v["boxes"], "a FAIL says where"
            assert v["score"] >= v["threshold"]

    audit = read_audit(cfg.output.audit_log)  # type: ignore[arg-type]
    assert [a["seq"] for a in audit] == list(range(FRAMES))
    fails = [a for a in audit if a["verdict"] == "FAIL"]
    for a in fails:
        assert a["evidence"] and Path(a["evidence"]).exists()
        assert cv2.imread(a["evidence"]) is not None


def test_realtime_pacing_turns_drops_into_fault_verdicts(tmp_path: Path, trained_model, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    """A live-camera-like source faster than the scorer: drops are published as FAULT, seqs stay contiguous."""
    model_dir, category, size = trained_model
    video = tmp_path / "fast.avi"
    render_line_video(video, category, n_frames=40, defect_rate=0.2, size=size, seed=5)
    cfg = load_config(write_config(tmp_path, video, model_dir, mosquitto_broker,
                                   pacing="realtime", fps=400.0, queue_size=1))
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-test/itest/verdict").start()
    try:
        summary = Daemon(cfg).run()
        messages = sub.wait_for(summary.frames, timeout=5.0)
    finally:
        sub.stop()
    for topic, payload in messages:
        validate_message(topic, payload)
    seqs = [p["seq"] for _, p in messages]
    assert seqs == list(range(40))
    faults = [p for _, p in messages if p["verdict"] == "FAULT"]
    assert summary.dropped == len(faults) > 0
    assert all(f["score"] is None and "queue full" in f["reason"] for f in faults)


def test_sigterm_style_stop_ends_a_looping_source(tmp_path: Path, trained_model, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    model_dir, category, size = trained_model
    video = tmp_path / "loop.avi"
    render_line_video(video, category, n_frames=5, size=size, seed=9)
    cfg = load_config(write_config(tmp_path, video, model_dir, mosquitto_broker, loop=True))
    seen: list[int] = []

    def stop_after_two_loops(inspection) -> None:  # type: ignore[no-untyped-def]
        seen.append(inspection.seq)
        if len(seen) == 12:  # more than two passes over the 5-frame file
            threading.Thread(target=daemon.stop).start()  # as a signal handler would, from elsewhere

    daemon = Daemon(cfg, on_inspection=stop_after_two_loops)
    summary = daemon.run()
    assert summary.frames > 5, "the looping source kept going until stop()"
    audit = read_audit(cfg.output.audit_log)  # type: ignore[arg-type]
    assert [a["seq"] for a in audit] == list(range(summary.frames))
    assert np.all(np.diff([a["captured_ts"] for a in audit]) >= 0)


def test_cli_run_stops_cleanly_on_sigterm(tmp_path: Path, trained_model, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    """The real process, as systemd runs it: SIGTERM ends it with exit 0, a summary and a retained offline status."""
    model_dir, category, size = trained_model
    video = tmp_path / "loop.avi"
    render_line_video(video, category, n_frames=5, size=size, seed=9)
    config = write_config(tmp_path, video, model_dir, mosquitto_broker, loop=True)
    audit = tmp_path / "out" / "audit.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not audit.exists() or len(audit.read_text().splitlines()) < 3):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    # Every numbered frame has exactly one verdict. SIGTERM judges the frames still queued within half the
    # grace, and a frame it cannot judge in time is a FAULT that says so and is counted (on a loaded machine,
    # issue 18 item 13, one was): no other FAULT, and the summary counts exactly the audit's.
    audited = read_audit(audit)
    assert [a["seq"] for a in audited] == list(range(len(audited))), "one verdict per numbered frame, in order"
    faults = [a for a in audited if a["verdict"] == "FAULT"]
    assert all("daemon stopping before the frame was inspected" in a["reason"] for a in faults), faults
    assert all(a["seq"] >= len(audited) - 6 for a in faults), "only the frames queued at the stop"
    summary = re.search(r"frames (\d+): PASS \d+, FAIL \d+, FAULT (\d+) \(dropped (\d+)", out)
    assert summary, out[-2000:]
    assert [int(g) for g in summary.groups()] == [len(audited), len(faults), len(faults)], out[-2000:]
    status = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-test/itest/status").start()
    try:
        retained = status.wait_for(1, timeout=5)
    finally:
        status.stop()
    assert retained and retained[-1][1]["state"] == "offline"
