"""Encoder mode through an encoder outage: the bridge (`edge-inspector reject-bridge`, a child process) reads the
belt's counter from pymodbus's own server; the test breaks the counter input (every read answers a Modbus
exception) while a FAIL part is between camera and ejector, moves the belt on meanwhile (the module's counter
keeps counting), and mends it. The status says `encoder.state: error` with the failures counted and the last
error while it is broken; afterwards a part the belt moved more than `catch_up_counts` past its firing count is
not fired (`missed_outage`), a part within them fires at once (`late_fired`). The counts are the server's."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from helpers.daemon_process import wait_for
from helpers.reject_bridge_process import BridgeProcess, write_bridge_config
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = [pytest.mark.integration]
if not os.environ.get("CI"):  # CI installs the bridge extra (.ci/run): there an ImportError must fail
    pytest.importorskip("pymodbus", reason="the reject bridge's Modbus output needs pip install .[bridge]")

from helpers.modbus_peer import ModbusPeer  # noqa: E402 - after the skip: the peer is pymodbus's server

STATION, COUNTS, CATCH_UP = "rbout", 400, 50
FAULT, JUMP, SPEED = 14, 13, 15  # the simulator's control registers


def _verdict(seq: int, ts: float) -> bytes:
    iso = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps({"schema": "edge-inspector/verdict", "version": 2, "station": STATION, "run_id": "r1",
                       "seq": seq, "source_index": seq, "frame": f"f{seq}", "captured_at": iso, "captured_ts": ts,
                       "decided_at": iso, "latency_ms": 1.0, "verdict": "FAIL", "score": 0.9, "threshold": 0.5,
                       "boxes": [], "reason": "test", "model_id": "m", "part_id": None,
                       "replayed": False}).encode()


def test_an_encoder_outage_is_reported_and_parts_it_carried_past_are_not_fired_beyond_catch_up(
        tmp_path: Path, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    peer = ModbusPeer(tmp_path, "--encoder-bits", "32", "--reads-per-step", "2", "--speed", "2").start()
    encoder = {"host": "127.0.0.1", "port": peer.port, "address": 0, "poll_ms": 2, "counts_to_ejector": COUNTS,
               "stale_ms": 100, "catch_up_counts": CATCH_UP, "timeout_s": 0.05}
    bridge = BridgeProcess(write_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                               modbus_port=peer.port, station=STATION, pulse_ms=5.0,
                                               announce="verdicts", encoder=encoder)).start()
    sub = mqtt_subscriber(mosquitto_broker, f"ei-rel/{STATION}/reject-bridge-status")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rb-outage-{time.monotonic_ns()}")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()

    def last() -> dict[str, Any]:
        return sub.messages[-1][1] if sub.messages else {}

    def through_outage(seq: int, past: int) -> int:
        """Plan a FAIL, break the counter, move the belt `past` counts beyond its firing count, mend it. The belt
        stands meanwhile (the test moves it by hand), so the part's place is exact and nothing moves by itself."""
        peer.set_register(SPEED, 0)
        at_capture = peer.belt()[-1][1]
        ts = time.time()
        pub.publish(f"ei-rel/{STATION}/verdict", _verdict(seq, ts), qos=1).wait_for_publish(5)
        assert wait_for(lambda: last().get("counts", {}).get("scheduled") == seq + 1, 20.0), last()
        before = last()["encoder"]
        peer.set_register(FAULT, 1)
        # (a starved poll thread alone can make the state "error" for a moment: wait for the failed reads too)
        assert wait_for(lambda: last()["encoder"]["state"] == "error"
                        and last()["encoder"]["read_errors"] > before["read_errors"], 20.0), last()
        broken = last()["encoder"]
        assert "127.0.0.1" in (broken["last_error"] or ""), broken
        target = at_capture + COUNTS
        peer.set_register(JUMP, target + past - peer.belt()[-1][1])
        peer.set_register(FAULT, 0)
        assert wait_for(lambda: last()["encoder"]["state"] == "ok"
                        and last()["encoder"]["outages"] > before["outages"], 20.0), last()
        peer.set_register(SPEED, 2)
        return target + past

    try:
        assert wait_for(lambda: last().get("encoder", {}).get("state") == "ok", 30.0), bridge.output()
        landed_far = through_outage(0, past=CATCH_UP + 200)  # far beyond the jet: no pulse
        assert wait_for(lambda: last()["encoder"]["missed_outage"] == 1, 10.0), last()
        assert peer.coil_edges() == []
        landed_near = through_outage(1, past=CATCH_UP // 2)  # still within the jet's reach: fires at once
        assert wait_for(lambda: last()["encoder"]["late_fired"] == 1, 10.0), last()
        status = last()
    finally:
        pub.loop_stop()
        code = bridge.terminate()
        peer.stop()
    assert code == 0, bridge.output()
    assert (status["encoder"]["missed_outage"], status["encoder"]["late_fired"]) == (1, 1), status
    assert status["counts"]["fired"] == 1 and status["counts"]["pending"] == 0, status
    edges = peer.edges_at_count()
    assert len(edges) == 1 and edges[0][1] == landed_near, (edges, landed_near)  # the first read after the outage
    assert landed_far < landed_near
    assert "not fired: FAIL r1/0 passed the ejector" in bridge.output()
