"""The reject bridge as a child process against a real Mosquitto and pymodbus's server: triggers and capture
notices without a verdict are rejected, garbage and oversized messages are refused while it keeps firing, and its
outage shows on its retained status (the broker publishes its last will)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from helpers.reject_bridge_process import BridgeProcess, write_bridge_config
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.integration
if not os.environ.get("CI"):  # CI installs the bridge extra (.ci/run): there an ImportError must fail
    pytest.importorskip("pymodbus", reason="the reject bridge's Modbus output needs pip install .[bridge]")

from helpers.modbus_peer import ModbusPeer  # noqa: E402 - after the skip: the peer is pymodbus's server

DELAY_MS = 1500.0


def _verdict(station: str, seq: int, verdict: str, *, ts: float, run: str = "run-a", part: str | None = None,
             **extra: Any) -> bytes:
    return json.dumps({"schema": "edge-inspector/verdict", "version": 2, "station": station, "run_id": run,
                       "seq": seq, "source_index": seq, "frame": f"f{seq}", "captured_at": "2026-12-06T10:00:00.000Z",
                       "captured_ts": ts, "decided_at": "2026-12-06T10:00:00.050Z", "latency_ms": 50.0,
                       "verdict": verdict, "score": 0.9, "threshold": 0.5, "boxes": [], "reason": "r",
                       "model_id": "m", "part_id": part, "replayed": False, **extra}).encode()


@pytest.fixture
def peer(tmp_path: Path) -> Any:
    p = ModbusPeer(tmp_path).start()
    yield p
    p.stop()


def _publisher(broker: Any) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rb-test-pub-{time.monotonic_ns()}")
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def _status(mqtt_subscriber: Any, broker: Any, topic: str, where: Any, timeout: float = 20.0) -> dict[str, Any]:
    sub = mqtt_subscriber(broker, topic)
    found = sub.wait_for(1, timeout, where=lambda t, p: isinstance(p, dict) and where(p))
    assert found, f"no status on {topic} matching; got {sub.messages[-3:]}"
    return found[-1][1]


def _online(mqtt_subscriber: Any, broker: Any, station: str) -> None:
    _status(mqtt_subscriber, broker, f"ei-rel/{station}/reject-bridge-status", lambda p: p["state"] == "online")


def _wait_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def test_triggers_without_verdict_fire_and_a_pass_in_time_cancels(tmp_path: Path, mosquitto_broker, peer,
                                                                   mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbtrig"
    cfg = write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, modbus_port=peer.port,
                              station=station, delay_ms=DELAY_MS, announce="triggers")
    bridge = BridgeProcess(cfg).start()
    pub = _publisher(mosquitto_broker)
    try:
        _online(mqtt_subscriber, mosquitto_broker, station)
        t0 = time.time()
        for part in ("P-1", "P-2", "P-3"):  # parts 0.3 s apart on the belt (pulses of 10 ms: separate edges)
            pub.publish(f"ei-rel/{station}/trigger", json.dumps({"part_id": part}), qos=1).wait_for_publish(5)
            time.sleep(0.3)
        # P-1 gets a PASS right away, P-2 a FAIL, P-3 nothing: P-2 and P-3 must be rejected, once each
        pub.publish(f"ei-rel/{station}/verdict", _verdict(station, 0, "PASS", ts=t0, part="P-1"), qos=1)
        pub.publish(f"ei-rel/{station}/verdict", _verdict(station, 1, "FAIL", ts=t0, part="P-2"), qos=1)
        _wait_until(t0 + DELAY_MS / 1000 + 2.0)
        status = _status(mqtt_subscriber, mosquitto_broker, f"ei-rel/{station}/reject-bridge-status",
                         lambda p: p["counts"]["fired"] >= 2 and p["counts"]["pending"] == 0)
    finally:
        pub.loop_stop()
        assert bridge.terminate() == 0, bridge.output()
    fired = sorted(f["what"] for f in bridge.fired())
    assert fired == ["FAIL run-a/1 part P-2", "trigger P-3 (no verdict in time)"], bridge.output()
    assert status["counts"]["trigger_timeouts"] == 1 and status["counts"]["cancelled"] == 1
    assert len(peer.coil_edges()) == 2


def test_bad_messages_are_refused_and_it_keeps_firing(tmp_path: Path, mosquitto_broker, peer,
                                                     mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbdoors"
    cfg = write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, modbus_port=peer.port,
                              station=station, delay_ms=DELAY_MS)
    pub = _publisher(mosquitto_broker)
    topic = f"ei-rel/{station}/verdict"
    # retained before the bridge subscribes, so the broker hands it over with the retain flag: a verdict from
    # the past, dropped (one published while the bridge is connected arrives as an ordinary message)
    pub.publish(topic, _verdict(station, 9, "FAIL", ts=time.time() + 2), qos=1, retain=True).wait_for_publish(5)
    bridge = BridgeProcess(cfg).start()
    try:
        _online(mqtt_subscriber, mosquitto_broker, station)
        junk = [b"", b"\xff\xfe\x00", b"[1,2]", b"{" * 50_000, b"1e999999", b'{"schema": "edge-inspector/verdict"}',
                _verdict(station, 5, "FAIL", ts=time.time()).replace(b'"seq": 5', b'"seq": "5"'),
                _verdict("other", 1, "FAIL", ts=time.time())]
        for payload in junk:
            pub.publish(topic, payload, qos=1)
        pub.publish(topic, b'{"x": "' + b"A" * 200_000 + b'"}', qos=1)  # over max_message_bytes
        t0 = time.time()
        pub.publish(topic, _verdict(station, 0, "FAIL", ts=t0, run="run-ok"), qos=1).wait_for_publish(5)
        _wait_until(t0 + DELAY_MS / 1000 + 1.0)
        status = _status(mqtt_subscriber, mosquitto_broker, f"ei-rel/{station}/reject-bridge-status",
                         lambda p: p["counts"]["fired"] >= 1)
        assert bridge.alive()
    finally:
        pub.publish(topic, b"", qos=1, retain=True)  # clear the retained verdict
        pub.loop_stop()
        assert bridge.terminate() == 0, bridge.output()
    assert [f["what"] for f in bridge.fired()] == ["FAIL run-ok/0"]
    counts = status["counts"]
    assert (counts["invalid"], counts["oversize"]) == (len(junk), 1), counts
    assert counts["retained"] == 1
    assert len(peer.coil_edges()) == 1


def test_bad_capture_notices_are_refused_and_a_good_one_still_rejects_its_part(
        tmp_path: Path, mosquitto_broker, peer, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    import random

    from edge_inspector.publish.capture_notice import capture_payload

    station = "rbcapdoor"
    cfg = write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, modbus_port=peer.port,
                              station=station, delay_ms=DELAY_MS, announce="captures")
    bridge = BridgeProcess(cfg).start()
    pub = _publisher(mosquitto_broker)
    topic = f"ei-rel/{station}/captured"
    try:
        _online(mqtt_subscriber, mosquitto_broker, station)
        good = capture_payload(station, "run-c", 3, time.time())
        rng = random.Random(7)  # fuzz: random bytes, and the good notice with random bytes flipped
        junk = [b"", b"{}", b"\xff", b"1e999999", capture_payload("other", "run-c", 1, time.time()),
                good.replace(b'"seq":3', b'"seq":-3'), good.replace(b'"run_id":"run-c"', b'"run_id":"../x"'),
                *(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(40)),
                *(bytes(b ^ (rng.randrange(1, 256) if rng.random() < 0.1 else 0) for b in good) for _ in range(40))]
        junk = [j for j in junk if j != good]
        for payload in junk:
            pub.publish(topic, payload, qos=1)
        pub.publish(topic, b'{"x": "' + b"A" * 200_000 + b'"}', qos=1)  # over max_message_bytes
        t0 = time.time()
        pub.publish(topic, capture_payload(station, "run-ok", 0, t0), qos=1).wait_for_publish(5)
        _wait_until(t0 + DELAY_MS / 1000 + 1.0)
        status = _status(mqtt_subscriber, mosquitto_broker, f"ei-rel/{station}/reject-bridge-status",
                         lambda p: p["counts"]["fired"] >= 1 and p["counts"]["pending"] == 0)
        assert bridge.alive()
    finally:
        pub.loop_stop()
        assert bridge.terminate() == 0, bridge.output()
    fired = [f["what"] for f in bridge.fired()]
    counts = status["counts"]
    # a flipped byte can leave a valid notice (another seq, a digit of the time): it is a part, and is rejected
    assert "capture run-ok/0 (no verdict in time)" in fired
    assert counts["capture_refused"] + counts["captures"] - 1 == len(junk), counts
    assert counts["oversize"] == 1 and counts["capture_timeouts"] == len(fired), counts
    assert len(peer.coil_edges()) >= 1


def test_its_outage_shows_on_the_retained_status(tmp_path: Path, mosquitto_broker, peer,
                                                mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbwill"
    cfg = write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, modbus_port=peer.port,
                              station=station)
    bridge = BridgeProcess(cfg).start()
    _online(mqtt_subscriber, mosquitto_broker, station)
    bridge.kill()  # SIGKILL: no shutdown code runs; the broker publishes the will after the keepalive
    status = _status(mqtt_subscriber, mosquitto_broker, f"ei-rel/{station}/reject-bridge-status",
                     lambda p: p["state"] == "offline", timeout=40.0)
    assert status["clean"] is False
    # a clean stop says so too
    bridge = BridgeProcess(cfg).start()
    _online(mqtt_subscriber, mosquitto_broker, station)
    assert bridge.terminate() == 0
    status = _status(mqtt_subscriber, mosquitto_broker, f"ei-rel/{station}/reject-bridge-status",
                     lambda p: p["state"] == "offline" and p.get("clean") is True)
    assert status["output"]["errors"] == 0
