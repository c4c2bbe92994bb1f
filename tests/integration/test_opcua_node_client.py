"""The OPC UA server seen by an independent client: node-opcua (tests/opcua_node/peer.js), not asyncua.

Through the real chain: `edge-inspector run` publishes to a real Mosquitto, `edge-inspector opcua-server` (a
child) serves it, and node-opcua, over Basic256Sha256 SignAndEncrypt with a username, browses the VisionSystem,
reads its state, subscribes to ResultReady events, reads LastResult and the event history. Every event must be
one of the verdicts the MQTT subscriber got, each once, in order, fields matching. Then who may log in: an
anonymous session and a wrong password are refused when the config allows neither."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import DaemonProcess, verdicts, write_config
from helpers.opcua_node_peer import NodePeer, node_binary
from helpers.opcua_peer import PASSWORD, OpcuaServerProcess, needs_asyncua, unique_verdicts, write_opcua_config

from edge_inspector.publish.broker import free_port
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
STATION, PREFIX = "uanode", "ei-rel"  # write_config's topic prefix
PARTS = 10


@pytest.fixture
def served(tmp_path: Path, mosquitto_broker: Any) -> Iterator[tuple[OpcuaServerProcess, str]]:
    needs_asyncua()
    node_binary()
    port = free_port()
    folder = tmp_path / "opcua"
    folder.mkdir()
    config = write_opcua_config(folder, mosquitto_broker, STATION, PREFIX, port, state_dir=str(folder / "state"))
    server = OpcuaServerProcess(config).start()
    yield server, f"opc.tcp://127.0.0.1:{port}/edge-inspector/"
    server.stop()


def test_node_opcua_gets_one_event_per_verdict_in_order(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
        served: tuple[OpcuaServerProcess, str]) -> None:
    server, url = served
    model_dir, category, size = trained_model
    video = tmp_path / "parts.avi"
    render_line_video(video, category, n_frames=PARTS, defect_rate=0.5, size=size, seed=61)
    cfg = write_config(tmp_path / "line.yaml", model_dir=model_dir, broker=mosquitto_broker, station=STATION,
                       source={"kind": "video", "path": str(video)})
    plc = mqtt_subscriber(mosquitto_broker, f"{PREFIX}/{STATION}/verdict")
    peer = NodePeer(url, tmp_path / "pki", events=PARTS, password=PASSWORD)
    daemon = DaemonProcess(cfg, env={"OMP_NUM_THREADS": "1"}, name="daemon")
    try:
        browse = peer.wait_for("browse", 180)
        assert {"VisionStateMachine", "SystemState", "RecipeManagement", "ResultManagement"} <= set(browse["children"])
        state = peer.wait_for("state", 60)
        assert state["state"] in ("Preoperational", "Error") and state["number"] in (1, 3), state
        peer.wait_for("subscribed", 60)
        daemon.start()
        assert daemon.wait(300) == 0, daemon.output()[-3000:]
        assert peer.wait(300) == 0, peer.report()
    finally:
        daemon.stop()
        peer.stop()
    assert server.alive(), server.output()[-3000:]
    sent = unique_verdicts(verdicts(plc))
    assert len(sent) == PARTS and [v["seq"] for v in sent] == list(range(PARTS))
    events = peer.kinds("event")
    assert len(events) == PARTS, peer.report()
    for event, v in zip(events, sent):
        _same(event, v)
    last = peer.wait_for("last", 1)
    assert (last["Seq"], last["Verdict"], last["RunId"]) == (sent[-1]["seq"], sent[-1]["verdict"], sent[-1]["run_id"])
    history = peer.wait_for("history", 1)["events"]
    assert [(e["RunId"], e["Seq"]) for e in history] == [(v["run_id"], v["seq"]) for v in sent]
    assert [e["EventId"] for e in history] == [e["EventId"] for e in events], "the same events, the same ids"
    for event, v in zip(history, sent):
        _same(event, v)


def _same(event: dict[str, Any], v: dict[str, Any]) -> None:
    key = f"{STATION}/{v['run_id']}/{v['seq']}"
    assert event["ResultId"] == key and event["EventId"] == key
    assert (event["Station"], event["RunId"], event["Seq"]) == (v["station"], v["run_id"], v["seq"])
    assert (event["Verdict"], event["ModelId"], event["Frame"], event["Replayed"]) == (
        v["verdict"], v["model_id"], v["frame"], v["replayed"])
    assert event["PartId"] == (v.get("part_id") or "")
    if v["score"] is None:
        assert event["Score"] == "NaN"
    else:
        assert math.isclose(event["Score"], v["score"], rel_tol=0, abs_tol=0)
    assert event["Threshold"] == v["threshold"] and event["BoxCount"] == len(v["boxes"])
    assert event["CaptureTime"][:19] == v["captured_at"][:19]


@pytest.mark.parametrize("opcua, user, password, refusal", [
    ({}, None, None, "ANONYMOUS user token policy"),  # not even offered: node-opcua refuses before asking
    ({}, "plc", "not-the-password", "BadUserAccessDenied"),  # refused by the server
    ({"allow_anonymous": True, "users": []}, None, None, None),  # enabled: an anonymous session reads
])
def test_node_opcua_logs_in_only_as_the_config_allows(
        tmp_path: Path, mosquitto_broker: Any, opcua: dict[str, Any], user: str | None, password: str | None,
        refusal: str | None) -> None:
    needs_asyncua()
    node_binary()
    port = free_port()
    server = OpcuaServerProcess(write_opcua_config(tmp_path, mosquitto_broker, STATION, PREFIX, port,
                                                   **opcua)).start()
    peer = NodePeer(f"opc.tcp://127.0.0.1:{port}/edge-inspector/", tmp_path / "pki", events=0, user=user,
                    password=password, timeout_s=120)
    try:
        code = peer.wait(180)
        assert server.alive(), server.output()[-3000:]
    finally:
        peer.stop()
        server.stop()
    if refusal is None:
        assert code == 0, peer.report()
        # the state depends on the station's retained status left by an earlier test on the shared broker
        assert peer.wait_for("state", 1)["state"] in ("Preoperational", "Operational", "Halted", "Error")
        assert peer.kinds("history") and peer.kinds("done"), peer.report()
        return
    assert code == 3, peer.report()
    error = peer.wait_for("error", 1)
    assert error["stage"] == "session" and refusal in error["message"], peer.report()
    assert not peer.kinds("session"), "no session for these credentials"
