"""End to end: the real daemon (`edge-inspector run`, a trained model, a line video) publishes verdicts from its
spool to a real Mosquitto; the reject bridge (`edge-inspector reject-bridge`, a child process) drives a coil of
pymodbus's own server. Every FAIL/FAULT the PLC-side subscriber received fires exactly one pulse at its planned
time (or, on a machine too slow to deliver it before then, is counted late: never fired late), PASS none; a
duplicate and a replayed copy never fire, nor a verdict re-published after its firing time."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import DaemonProcess, write_config
from helpers.reject_bridge_process import BridgeProcess, write_bridge_config
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
from edge_inspector.synth import render_line_video

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]
if not os.environ.get("CI"):  # CI installs the bridge extra (.ci/run): there an ImportError must fail
    pytest.importorskip("pymodbus", reason="the reject bridge's Modbus output needs pip install .[bridge]")

from helpers.modbus_peer import ModbusPeer  # noqa: E402 - after the skip: the peer is pymodbus's server

STATION, FRAMES, DELAY_MS, PULSE_MS = "rbe2e", 30, 3000.0, 10.0


def test_every_fail_and_fault_fires_once_pass_replay_duplicate_and_late_never(
        tmp_path: Path, trained_model, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=FRAMES, defect_rate=0.4, size=size, seed=11)
    peer = ModbusPeer(tmp_path).start()
    bridge = BridgeProcess(write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                               modbus_port=peer.port, station=STATION, delay_ms=DELAY_MS,
                                               pulse_ms=PULSE_MS)).start()
    status_topic = f"ei-rel/{STATION}/reject-bridge-status"
    status_sub = mqtt_subscriber(mosquitto_broker, status_topic)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rb-e2e-pub-{time.monotonic_ns()}")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    verdict_topic = f"ei-rel/{STATION}/verdict"
    injected: list[dict[str, Any]] = []

    def on_verdict(topic: str, payload: dict[str, Any]) -> None:
        # the first reject, sent again at once (a duplicate in time) and as a replayed copy of another run
        # (a key the bridge has not seen, firing time still ahead): neither may fire
        if injected or payload.get("verdict") not in ("FAIL", "FAULT") or payload.get("replayed"):
            return
        injected.append(payload)
        pub.publish(verdict_topic, json.dumps(payload), qos=1)
        pub.publish(verdict_topic, json.dumps({**payload, "run_id": "replay-run", "replayed": True}), qos=1)

    plc = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, verdict_topic, on_message=on_verdict)
    try:
        assert status_sub.wait_for(1, 20.0, where=lambda t, p: p.get("state") == "online"), bridge.output()
        plc.start()
        config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker,
                              station=STATION, source={"kind": "video", "path": str(video), "pacing": "realtime",
                                                       "fps": 10.0})
        daemon = DaemonProcess(config, env={"OMP_NUM_THREADS": "1"}).start()
        assert daemon.wait(timeout=300) == 0, daemon.output()
        received = [p for _, p in plc.wait_for(FRAMES + 2, timeout=15.0)]
        keys: set[tuple[str, int]] = set()  # the subscriber sees the test's own duplicate and replayed copy too
        daemon_verdicts = [p for p in received if p["run_id"] != "replay-run"
                           and (p["run_id"], p["seq"]) not in keys and not keys.add((p["run_id"], p["seq"]))]
        assert [p["seq"] for p in daemon_verdicts] == list(range(FRAMES))
        for p in daemon_verdicts:
            validate_message(verdict_topic, p)
        last_fire = max(p["captured_ts"] for p in daemon_verdicts) + DELAY_MS / 1000
        time.sleep(max(0.0, last_fire - time.time()) + 1.0)
        # after its firing time: a verdict re-published late (a fresh key, not flagged replayed) must not fire
        assert injected, "the daemon published no FAIL/FAULT: the test video needs defective parts"
        pub.publish(verdict_topic, json.dumps({**injected[0], "run_id": "late-run"}), qos=1).wait_for_publish(5)
        found = status_sub.wait_for(1, 20.0, where=lambda t, p: p.get("counts", {}).get("verdicts") == FRAMES + 3
                                    and p["counts"]["pending"] == 0)
        assert found, status_sub.messages[-1:]
        status = found[-1][1]
    finally:
        plc.stop()
        pub.loop_stop()
        code = bridge.terminate()
        peer.stop()
    assert code == 0, bridge.output()

    rejects = {f"{p['verdict']} {p['run_id']}/{p['seq']}" for p in daemon_verdicts if p["verdict"] != "PASS"}
    passes = {f"{p['run_id']}/{p['seq']}" for p in daemon_verdicts if p["verdict"] == "PASS"}
    fired = bridge.fired()
    names = [f["what"] for f in fired]
    assert len(names) == len(set(names)), names  # never twice for one part
    assert set(names) <= rejects, set(names) - rejects  # only the daemon's FAIL/FAULT, no injected copy
    assert not {n.split(" ", 1)[1] for n in names} & passes
    counts = status["counts"]
    # every reject fired, or arrived after its firing time on a machine that fell behind and was counted late
    # (the re-published copy is the one late verdict the test itself made)
    assert len(names) + counts["late"] - 1 == len(rejects), (counts, sorted(rejects - set(names)))
    assert len(names) >= 1
    assert (counts["duplicates"], counts["replayed"], counts["missing_scheduled"]) == (1, 1, 0), counts
    assert counts["passed"] == len(passes) and counts["invalid"] == 0
    assert status["output"]["errors"] == 0
    # the independent witness: the Modbus server saw one rising edge per pulse (pulses 10 ms long, parts 100 ms
    # apart unless two were planned closer), none before its planned time (the clock of one machine)
    edges = peer.coil_edges()
    planned = sorted(f["planned"] for f in fired)
    if all(b - a > 0.05 for a, b in zip(planned, planned[1:])):
        assert len(edges) == len(fired)
        early = [(e, p) for e, p in zip(edges, planned) if e < p - 0.005]
        assert not early, early
        lateness = sorted((e - p) * 1000 for e, p in zip(edges, planned))
        print(f"coil write - planned time, ms: min {lateness[0]:.1f} max {lateness[-1]:.1f} n {len(lateness)}")
    else:
        assert 1 <= len(edges) <= len(fired)
