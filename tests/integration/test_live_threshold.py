"""Live threshold changes over MQTT: the real `threshold` CLI talks to the real daemon through a real broker.

A change is applied between two frames (no verdict with the old number follows one with the new), persisted
as a new profile revision with author and reason, answered on the response topic, announced on the retained
status and refused (naming the key, changing nothing) when invalid. Without mqtt.commands nothing listens.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from contract_schemas import validate_message
from helpers.daemon_process import verdicts, wait_for, write_config
from helpers.profile import FIXED, calibrate
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.config import load_config
from edge_inspector.publish import read_audit
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def threshold_cli(broker: Any, station: str, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_inspector.cli", "threshold", *args, "--host", broker.host, "--port",
         str(broker.port), "--prefix", "ei-rel", "--station", station, "--timeout", str(timeout)],
        capture_output=True, text=True, timeout=60)


def start_daemon(tmp_path: Path, trained_model: Any, broker: Any, station: str, commands: bool,
                 profile: Path) -> tuple[Daemon, threading.Thread]:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=16, defect_rate=0.5, size=size, seed=5)
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=broker, station=station,
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime",
                                  "fps": 8.0},
                          inspection={"profile": str(profile)}, mqtt={"commands": commands})
    daemon = Daemon(load_config(config))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    return daemon, thread


def responses(sub: Any, rid: str | None = None) -> list[dict[str, Any]]:
    return [p for t, p in list(sub.messages) if t.endswith("/command/response") and rid in (None, p["id"])]


def new_verdicts(sub: Any, thr: float, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    assert wait_for(lambda: len([v for v in verdicts(sub) if v["threshold"] == thr]) >= n, timeout), \
        f"fewer than {n} verdicts with threshold {thr}"
    return [v for v in verdicts(sub) if v["threshold"] == thr]


def check_switch(sub: Any, old: float, new: float) -> None:
    """Every verdict judged with `new` comes after every verdict judged with `old`; each follows its number."""
    both = [v for v in verdicts(sub) if v["threshold"] in (old, new)]
    first_new = min(v["seq"] for v in both if v["threshold"] == new)
    assert first_new > max(v["seq"] for v in both if v["threshold"] == old), \
        "a frame judged with the new threshold precedes one judged with the old"
    for v in (v for v in both if v["score"] is not None):
        assert (v["verdict"] == "FAIL") == (v["score"] >= v["threshold"] and bool(v["boxes"])), v


def test_threshold_set_rollback_show_history_over_mqtt(tmp_path: Path, trained_model: Any, mosquitto_broker: Any,
                                                       mqtt_subscriber: Any) -> None:
    model_dir, category, _ = trained_model
    profile_path = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/live/#")
    daemon, thread = start_daemon(tmp_path, trained_model, mosquitto_broker, "live", True, profile_path)
    try:
        old = new_verdicts(sub, 0.6123, 8)
        scores = sorted(v["score"] for v in old if v["score"] is not None)
        new = round(scores[len(scores) // 2], 4)  # about half the parts on each side of the new number
        if new == 0.6123:
            new = 0.6124
        res = threshold_cli(mosquitto_broker, "live", "set", "--image", str(new), "--author", "bo",
                            "--reason", "fewer false rejects on batch 7")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "r2" in res.stdout and f"{new:.6g}" in res.stdout
        answer = [r for r in responses(sub) if r["ok"]][-1]
        assert answer["profile"]["revision"] == 2 and answer["profile"]["image_threshold"] == new
        assert any("expected rates are from revision 1" in w for w in answer["warnings"])
        new_verdicts(sub, new, 8)
        check_switch(sub, 0.6123, new)

        saved = yaml.safe_load(profile_path.read_text())
        assert (saved["revision"], saved["author"], saved["reason"]) == (2, "bo", "fewer false rejects on batch 7")
        assert saved["thresholds"] == {"image": new, "pixel": 0.55}
        assert saved["policy"] == {"name": "fixed", "params": {"source": "command", "changed": ["image_threshold"],
                                                               "calibrated": {"revision": 1, "image": 0.6123,
                                                                              "pixel": 0.55}}}
        history = sorted(p.name for p in (profile_path.parent / "history").iterdir())
        assert history == ["s1.r0001.yaml", "s1.r0002.yaml"]
        status = mqtt_subscriber(mosquitto_broker, "ei-rel/live/status")
        retained = status.wait_for(1, timeout=5.0)
        assert retained and retained[0][1]["profile"]["revision"] == 2
        assert retained[0][1]["profile"]["image_threshold"] == new

        # an invalid request is refused naming the key; nothing changes
        bad = {"id": "bad-1", "action": "set", "author": "bo", "reason": "typo", "set": {"image_threshold": "abc"}}
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ei-test-bad-cmd")
        client.connect(mosquitto_broker.host, mosquitto_broker.port)
        client.loop_start()
        client.publish("ei-rel/live/command", json.dumps(bad), qos=1).wait_for_publish(5)
        assert wait_for(lambda: responses(sub, "bad-1"), 10.0)
        client.disconnect()
        client.loop_stop()
        refused = responses(sub, "bad-1")[0]
        assert not refused["ok"] and refused["error"].startswith("set.image_threshold:")
        assert refused["profile"]["revision"] == 2 and yaml.safe_load(profile_path.read_text())["revision"] == 2

        res = threshold_cli(mosquitto_broker, "live", "rollback", "--revision", "1", "--author", "bo",
                            "--reason", "batch 7 done")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "r3" in res.stdout
        n_before = len([v for v in verdicts(sub) if v["threshold"] == 0.6123])
        new_verdicts(sub, 0.6123, n_before + 6)
        after = [v for v in verdicts(sub) if v["threshold"] == 0.6123][n_before:]
        assert min(v["seq"] for v in after) > max(v["seq"] for v in verdicts(sub) if v["threshold"] == new)
        rolled = yaml.safe_load(profile_path.read_text())
        assert rolled["revision"] == 3 and rolled["thresholds"] == {"image": 0.6123, "pixel": 0.55}
        assert rolled["policy"]["name"] == "fixed" and rolled["reason"] == "batch 7 done"

        res = threshold_cli(mosquitto_broker, "live", "history")
        assert res.returncode == 0 and all(f"r000{n}" in res.stdout for n in (1, 2, 3)), res.stdout + res.stderr
        res = threshold_cli(mosquitto_broker, "live", "show")
        assert res.returncode == 0 and "r3" in res.stdout and "0.6123" in res.stdout
        res = threshold_cli(mosquitto_broker, "live", "rollback", "--revision", "9", "--author", "bo",
                            "--reason", "no such revision")
        assert res.returncode == 1 and "revision: 9 not in the history" in res.stderr
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    for topic, payload in sub.messages:
        if payload.get("id") == "bad-1" and topic.endswith("/command"):
            with pytest.raises(AssertionError, match="image_threshold"):
                validate_message(topic, payload)  # the schema refuses it too
            continue
        validate_message(topic, payload)
    cfg = daemon.cfg
    assert cfg.output.audit_log is not None
    commands = [r for r in read_audit(cfg.output.audit_log) if r.get("kind") == "command"]
    assert [(c["request"]["action"], c["ok"], c["profile"]["revision"]) for c in commands] == [
        ("set", True, 2), ("rollback", True, 3), ("rollback", False, 3)]


def test_without_mqtt_commands_nothing_listens(tmp_path: Path, trained_model: Any, mosquitto_broker: Any,
                                               mqtt_subscriber: Any) -> None:
    model_dir, category, _ = trained_model
    profile_path = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/quiet/#")
    daemon, thread = start_daemon(tmp_path, trained_model, mosquitto_broker, "quiet", False, profile_path)
    try:
        assert wait_for(lambda: len(verdicts(sub)) >= 2, 30.0), "the daemon runs"
        res = threshold_cli(mosquitto_broker, "quiet", "set", "--image", "0.9", "--author", "bo", "--reason", "x",
                            timeout=2.0)
        assert res.returncode == 2
        assert res.stderr.strip().splitlines() == [
            f"no response from station quiet on {mosquitto_broker.host}:{mosquitto_broker.port} within 2 s: "
            "is the daemon running with mqtt.commands: true?"]
        assert not responses(sub)
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert yaml.safe_load(profile_path.read_text())["revision"] == 1


def test_a_command_sent_while_the_daemon_is_down_is_never_carried_out(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    model_dir, category, _ = trained_model
    profile_path = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/late/#")
    daemon, thread = start_daemon(tmp_path, trained_model, mosquitto_broker, "late", True, profile_path)
    assert wait_for(lambda: len(verdicts(sub)) >= 2, 30.0), "the daemon runs and has subscribed"
    daemon.stop()
    thread.join(timeout=30)
    res = threshold_cli(mosquitto_broker, "late", "set", "--image", "0.9", "--author", "bo", "--reason", "late",
                        timeout=2.0)
    assert res.returncode == 2  # nobody answered
    before = len(verdicts(sub))
    daemon, thread = start_daemon(tmp_path, trained_model, mosquitto_broker, "late", True, profile_path)
    try:  # the same station id: the daemon resumes its persistent session
        assert wait_for(lambda: len(verdicts(sub)) >= before + 16, 30.0), "the restarted daemon runs"
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not responses(sub), "the stale request was carried out after the restart"
    assert yaml.safe_load(profile_path.read_text())["revision"] == 1
    assert 0.9 not in {v["threshold"] for v in verdicts(sub)}
