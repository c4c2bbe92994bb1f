"""The MQTT doors bounded, through a real broker: the connection drops oversized and retained messages before
anything decodes them (counted, one throttled warning), and the real daemon (`edge-inspector run`, its logging
and redaction as under systemd, a calibration profile in force) ignores a retained `set` at start and after a
restart, makes one revision of a `set` delivered twice, keeps judging every part while megabyte payloads
arrive, refuses a threshold outside the calibrated range unless forced (and audits the force), and exits 0 on
SIGTERM afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.daemon_process import DaemonProcess, verdicts, wait_for, write_config
from helpers.doors import Publisher, calibrated_line, open_doors

from edge_inspector.config import MqttConfig
from edge_inspector.publish.audit import read_audit_all
from edge_inspector.publish.mqtt_client import MqttConnection

pytestmark = pytest.mark.integration
MB = 1024 * 1024


def test_the_connection_drops_oversized_and_retained_messages_unread(mosquitto_broker: Any) -> None:
    topic = f"ei-doors/{time.monotonic_ns()}/command"
    pub = Publisher(mosquitto_broker, "doors")
    pub.send(topic, {"n": "kept at the broker"}, retain=True)
    got: list[bytes] = []
    arrived = threading.Event()
    conn = MqttConnection(MqttConfig(host=mosquitto_broker.host, port=mosquitto_broker.port, max_message_bytes=1000,
                                     connect_timeout=5.0), "doors", "run-1")
    conn.subscribe(topic, lambda payload: (got.append(payload), arrived.set()), qos=1)
    conn.start()
    try:
        assert wait_for(lambda: conn.dropped_retained == 1, 10.0), "the retained message was not dropped"
        pub.send(topic, b"x" * 1001)
        pub.send(topic, b"y" * 1000)  # at the limit: delivered
        assert arrived.wait(10.0)
        assert got == [b"y" * 1000] and conn.dropped_oversize == 1
        pub.send(topic, {"n": "retained, published while subscribed"}, retain=True)
        # MQTT 3.1.1: the broker clears the flag for a live subscription, so this one is delivered once ...
        assert wait_for(lambda: len(got) == 2, 10.0) and conn.dropped_retained == 1
        conn.client.unsubscribe(topic)
        conn.client.subscribe(topic, qos=1)  # ... and dropped when it comes back as retained (a reconnect)
        assert wait_for(lambda: conn.dropped_retained == 2, 10.0) and len(got) == 2
    finally:
        conn.stop()
        pub.send(topic, b"", retain=True)  # clear the retained message
        pub.close()


def responses(sub: Any, rid: str) -> list[dict[str, Any]]:
    return [p for t, p in list(sub.messages) if t.endswith("/command/response") and p.get("id") == rid]


def test_the_daemon_survives_retained_repeated_oversized_and_absurd_commands(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    line = calibrated_line(tmp_path, trained_model, n_frames=16)
    profile = line.profile
    station = f"doors{time.monotonic_ns() % 10**6}"
    base = f"ei-rel/{station}"
    config = write_config(tmp_path / "config.yaml", model_dir=line.model_dir, broker=mosquitto_broker,
                          station=station,
                          # fastest: the source waits for the scorer, so a FAULT here is a part the daemon
                          # failed to judge (a stall shows as verdicts that stop), never a busy test machine
                          source={"kind": "video", "path": str(line.video), "loop": True, "pacing": "fastest"},
                          # a long trigger window: a busy machine must not turn the live part into a FAULT
                          **open_doors(profile, window_ms=30_000))
    setting = {"action": "set", "author": "bo", "reason": "doors test"}
    pub = Publisher(mosquitto_broker, "tech")
    pub.send(f"{base}/command", {**setting, "id": "retained-1", "set": {"image_threshold": 0.9}}, retain=True)
    pub.send(f"{base}/trigger", {"part_id": "RETAINED-PART"}, retain=True)
    sub = mqtt_subscriber(mosquitto_broker, f"{base}/#")
    daemon = DaemonProcess(config).start()
    try:
        assert wait_for(lambda: len(verdicts(sub)) >= 5, 120.0), daemon.output()[-3000:]
        run_id = verdicts(sub)[0]["run_id"]

        pub.send(f"{base}/trigger", {"part_id": "LIVE-PART"})
        pub.send(f"{base}/trigger", {"part_id": "P" * 60_000})  # under the size limit, over part_id's
        twice = {**setting, "id": "twice-1", "set": {"image_threshold": 0.7}}
        pub.send(f"{base}/command", twice)
        pub.send(f"{base}/command", twice)
        assert wait_for(lambda: len(responses(sub, "twice-1")) == 2, 30.0), daemon.output()[-3000:]
        # the copy may be answered first (as a duplicate of the change still queued) or after it
        (done,) = [r for r in responses(sub, "twice-1") if r["ok"]]
        (copy,) = [r for r in responses(sub, "twice-1") if not r["ok"]]
        assert done["profile"]["revision"] == 2 and copy["error"].startswith("duplicate:")

        pub.send(f"{base}/command", b"{" * MB)  # 1 MB: dropped before decoding
        pub.send(f"{base}/command", {**setting, "id": "big-author", "author": "A" * MB, "set": {"min_area": 5}})
        pub.send(f"{base}/command", {**setting, "id": "long-author", "author": "A" * 60_000, "set": {"min_area": 5}})
        assert wait_for(lambda: responses(sub, "long-author"), 30.0), daemon.output()[-3000:]
        (long_author,) = responses(sub, "long-author")
        assert not long_author["ok"] and long_author["error"].startswith("author:")
        assert len(long_author["error"]) <= 400

        pub.send(f"{base}/command", {**setting, "id": "absurd", "set": {"image_threshold": 1e308}})
        assert wait_for(lambda: responses(sub, "absurd"), 30.0)
        (absurd,) = responses(sub, "absurd")
        assert not absurd["ok"] and "outside the calibrated range" in absurd["error"]
        # integers of 400 digits: json.loads returns them as int, and float() of one raises OverflowError
        pub.send(f"{base}/trigger", {"part_id": "HUGE-TS", "ts": 10**400})
        pub.send(f"{base}/command", {**setting, "id": "huge", "set": {"pixel_threshold": 10**400}})
        assert wait_for(lambda: responses(sub, "huge"), 30.0), daemon.output()[-3000:]
        (huge,) = responses(sub, "huge")
        assert not huge["ok"] and huge["error"].startswith("set.pixel_threshold: expected a finite number")
        pub.send(f"{base}/command", {**setting, "id": "forced", "set": {"image_threshold": 1e308}, "force": True})
        assert wait_for(lambda: responses(sub, "forced"), 30.0)
        assert responses(sub, "forced")[0]["ok"] and responses(sub, "forced")[0]["profile"]["revision"] == 3
        n = len(verdicts(sub))
        assert wait_for(lambda: len(verdicts(sub)) >= n + 10, 60.0), "verdicts stopped flowing"
        code, _ = daemon.terminate(timeout=60)
        assert code == 0, daemon.output()[-3000:]
        assert wait_for(lambda: any(t.endswith("/status") and p.get("state") == "offline"
                                    for t, p in list(sub.messages)), 10.0)

        run1 = [v for v in verdicts(sub) if v["run_id"] == run_id]
        assert sorted(v["seq"] for v in run1) == list(range(len(run1))), "a verdict was lost"
        # SIGTERM judges the frames still queued within half the grace or FAULTs them "daemon stopping": only
        # those, on the last few frames (queue_size), are allowed
        last = len(run1) - 1
        faults = [v for v in run1 if v["verdict"] == "FAULT"]
        assert all(v["seq"] > last - 5 and "daemon stopping" in v["reason"] for v in faults), \
            ("parts were not judged while payloads arrived", [(v["seq"], v["reason"]) for v in faults][:5])
        assert any(v["part_id"] == "LIVE-PART" for v in run1)
        assert not any(v["part_id"] in ("RETAINED-PART", "P" * 60_000, "HUGE-TS") for v in run1)
        assert {v["threshold"] for v in run1} >= {0.6123, 0.7, 1e308}
        assert not responses(sub, "retained-1") and not responses(sub, "big-author")
        log = daemon.output()
        assert log.count("more than mqtt.max_message_bytes 65536") == 1, "the oversize warning is throttled"
        assert log.count("a retained message") == 1  # command and trigger: one warning (throttled per kind)
        assert "trigger refused (part_id: expected a string of 1-128 characters" in log
        assert "trigger refused (ts: expected epoch seconds" in log and "OverflowError" not in log
        assert max(len(line) for line in log.splitlines()) < 5000

        restarted = DaemonProcess(config, name="daemon2").start()  # the retained set is still at the broker
        try:
            assert wait_for(lambda: len([v for v in verdicts(sub) if v["run_id"] != run_id]) >= 5, 120.0), \
                restarted.output()[-3000:]
            assert restarted.terminate(timeout=60)[0] == 0
        finally:
            restarted.stop()
        assert not responses(sub, "retained-1"), "the retained set was carried out after the restart"
        assert "a retained message" in restarted.output()
    finally:
        daemon.stop()
        pub.send(f"{base}/command", b"", retain=True)
        pub.send(f"{base}/trigger", b"", retain=True)
        pub.close()
    saved = yaml.safe_load(profile.read_text())
    assert saved["revision"] == 3 and saved["policy"]["params"]["forced"] is True
    history = sorted(p.name for p in (profile.parent / "history").iterdir())
    assert history == ["s1.r0001.yaml", "s1.r0002.yaml", "s1.r0003.yaml"]
    commands = [r for r in read_audit_all(tmp_path / "out" / "audit.jsonl") if r.get("kind") == "command"]
    assert [(c["id"], c["ok"], c["request"]["force"]) for c in commands] == [
        ("twice-1", True, False), ("absurd", False, False), ("forced", True, True)]
