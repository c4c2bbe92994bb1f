"""Encoder mode end to end: the real daemon (`edge-inspector run` on a line video) announces every frame on
`…/captured` and judges it; the reject bridge (`edge-inspector reject-bridge`, `schedule.mode: encoder`, a child
process) reads a 16-bit belt counter from pymodbus's own server and pulses its coil 0. The server's belt runs, the
test stops it for 3 s with parts still between camera and ejector, then runs it at more than twice the speed; the
counter wraps from 65,535 to 0 on the way (it starts at 64,000).

What is asserted is counted by the server, never timed: the belt moves in lockstep with the bridge's reads (every
2nd read advances it by SPEED counts), so how fast the machine runs changes how long the test takes, not the counts.
The tolerance follows from that: the bridge places a capture between two of its reads, at most one step (SPEED_A)
from the belt's true count then, and fires at the first read at or past the firing count, at most one step
(SPEED_B) past it; its coil write reaches the server before its next read. So every rising edge is at
count(capture) + COUNTS_TO_EJECTOR + d with -SPEED_A <= d < SPEED_A + SPEED_B (one count more each way for
rounding)."""

from __future__ import annotations

import bisect
import os
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import DaemonProcess, wait_for, write_config
from helpers.reject_bridge_process import BridgeProcess, write_bridge_config

from edge_inspector.synth import render_line_video

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]
if not os.environ.get("CI"):  # CI installs the bridge extra (.ci/run): there an ImportError must fail
    pytest.importorskip("pymodbus", reason="the reject bridge's Modbus output needs pip install .[bridge]")

from helpers.modbus_peer import ModbusPeer  # noqa: E402 - after the skip: the peer is pymodbus's server

STATION, FRAMES, COUNTS_TO_EJECTOR, START = "rbenc", 40, 2500, 64_000
SPEED_A, SPEED_B, SPEED_REGISTER, STOP_S = 4, 9, 15, 3.0
LOW, HIGH = -SPEED_A - 1, SPEED_A + SPEED_B + 1  # edge count - (count at capture + counts_to_ejector)


def test_pulses_follow_the_belt_in_counts_through_a_stop_a_speed_change_and_the_counter_wrap(
        tmp_path: Path, trained_model, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=FRAMES, defect_rate=0.4, size=size, seed=7)
    peer = ModbusPeer(tmp_path, "--encoder-bits", "16", "--encoder-start", str(START), "--reads-per-step", "2",
                      "--speed", str(SPEED_A)).start()
    encoder = {"host": "127.0.0.1", "port": peer.port, "table": "input", "address": 0, "bits": 16, "poll_ms": 2,
               "counts_to_ejector": COUNTS_TO_EJECTOR, "stale_ms": 1000, "history_s": 300, "catch_up_counts": 100,
               "timeout_s": 0.5}
    bridge = BridgeProcess(write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                               modbus_port=peer.port, station=STATION, pulse_ms=4.0,
                                               announce="captures", encoder=encoder)).start()
    sub = mqtt_subscriber(mosquitto_broker, f"ei-rel/{STATION}/#")

    def of(level: str) -> list[dict[str, Any]]:
        return [p for t, p in list(sub.messages) if t.endswith(f"/{level}")]

    daemon = None
    try:
        assert wait_for(lambda: any(p.get("state") == "online" and p.get("encoder", {}).get("state") == "ok"
                                    for p in of("reject-bridge-status")), 30.0), bridge.output()
        config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker,
                              station=STATION, source={"kind": "video", "path": str(video), "pacing": "realtime",
                                                       "fps": 10.0})
        daemon = DaemonProcess(config, env={"OMP_NUM_THREADS": "1"}).start()
        assert wait_for(lambda: any(p["seq"] == FRAMES - 1 for p in of("captured")), 300.0), daemon.output()
        peer.set_register(SPEED_REGISTER, 0)  # the last part is just past the camera: stop the belt
        stopped_at = peer.speed_set_at(0)
        count_at_stop = peer.belt()[-1][1]
        time.sleep(STOP_S)  # the belt stands: whatever is between camera and ejector stays there
        peer.set_register(SPEED_REGISTER, SPEED_B)
        resumed_at = peer.speed_set_at(SPEED_B)
        assert daemon.wait(timeout=300) == 0, daemon.output()
        assert wait_for(lambda: len(of("verdict")) >= FRAMES and of("reject-bridge-status")[-1]["counts"]["pending"]
                        == 0 and of("reject-bridge-status")[-1]["ts"] > resumed_at, 120.0), bridge.output()
        status = of("reject-bridge-status")[-1]
    finally:
        if daemon is not None:
            daemon.kill()
        code = bridge.terminate()
        peer.stop()
    assert code == 0, bridge.output()

    # the belt's true count at each capture, from the server's own record of its steps (not from the bridge)
    steps = peer.belt()
    times = [t for t, _ in steps]

    def count_at(ts: float) -> int:
        i = bisect.bisect_right(times, ts) - 1
        return steps[i][1] if i >= 0 else START

    notices = {(p["run_id"], p["seq"]): p["captured_ts"] for p in of("captured")}
    verdicts = {(p["run_id"], p["seq"]): p["verdict"] for p in of("verdict")}
    assert len(notices) == FRAMES and set(verdicts) == set(notices)
    rejects = {k for k, v in verdicts.items() if v != "PASS"}
    assert rejects, "the daemon judged every part PASS: the test video needs defective parts"
    fired = {}
    for f in bridge.fired():
        run, seq = f["what"].split(" ")[1].split("/")
        key = (run, int(seq))
        assert key not in fired, f"{key} fired twice"
        fired[key] = f
    counts = status["counts"]
    late_passes = {k for k in fired if verdicts[k] == "PASS"}  # only a PASS that came after its count: fail-safe
    assert set(fired) == rejects | late_passes and len(late_passes) <= counts["late"], (sorted(fired), rejects)
    assert all(fired[k]["what"].startswith("capture ") for k in late_passes)
    expected = {k: count_at(notices[k]) + COUNTS_TO_EJECTOR for k in fired}
    assert counts["no_position"] == 0 and counts["late_captures"] == 0, counts
    enc = status["encoder"]
    # (no late_fired check: a poll thread starved for over stale_ms makes its next read count as after an outage)
    assert (enc["state"], enc["read_errors"], enc["missed_outage"]) == ("ok", 0, 0), enc

    edges = peer.edges_at_count()
    assert not [t for t, _ in edges if stopped_at < t < resumed_at], "a pulse while the belt stood"
    assert not [t for t, _ in steps if stopped_at < t < resumed_at], "the belt moved while stopped"
    before = {k for k, e in expected.items() if e + HIGH < count_at_stop}
    after = {k for k, e in expected.items() if e + LOW > count_at_stop}
    wraps = steps[-1][1] // 65536 - START // 65536
    print(f"{len(fired)} pulses: {len(before)} before the stop, {len(after)} after it; counter wrapped {wraps} times")
    assert wraps >= 1
    assert after, "no part was between camera and ejector when the belt stopped"
    edge_counts = sorted(c for _, c in edges)
    for k, e in expected.items():  # each fired part has its edge within the tolerance (or shares a merged pulse)
        near = [t for t, c in edges if LOW <= c - e <= HIGH]
        assert near or any(0 < e - c <= 3 * SPEED_B for c in edge_counts), (k, e, edge_counts)
        if k in after:  # its count came after the stop: so did its pulse
            assert all(t > resumed_at for t in near), (k, e, near, resumed_at)
        elif k in before:
            assert all(t < stopped_at for t in near), (k, e, near, stopped_at)
    for t, c in edges:  # and every edge belongs to a fired part: none for a PASS
        assert any(LOW <= c - e <= HIGH for e in expected.values()), (t, c, sorted(expected.values()))
    ordered = sorted(expected.values())
    if all(b - a > 3 * SPEED_B + HIGH for a, b in zip(ordered, ordered[1:])):  # far enough apart not to merge
        assert len(edges) == len(fired)
        errors = [c - e for c, e in zip(edge_counts, ordered)]
        assert all(LOW <= d <= HIGH for d in errors), errors
        print(f"edge count - (capture count + {COUNTS_TO_EJECTOR}): min {min(errors)} max {max(errors)}")
    else:
        assert 1 <= len(edges) <= len(fired)
