"""End to end: the real daemon (`edge-inspector run`, as systemd starts it) publishes to a real Mosquitto; the
OPC UA server (`edge-inspector opcua-server`, a child process) serves what it reads; asyncua's Client is the PLC.

One ResultReady event per verdict the PLC-side MQTT subscriber got, in the same order and with the same fields,
through a daemon restart: the server keeps running, the vision state goes Halted (clean stop) or Error (killed:
the last will) while the daemon is down and Operational again after, and the events go on with the new run_id."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.ci import skip_unless_ci
from helpers.daemon_process import DaemonProcess, verdicts, write_config
from helpers.opcua_peer import (
    OpcuaServerProcess,
    connect_when_up,
    station_node,
    subscribe_results,
    wait_until,
    write_opcua_config,
)

from edge_inspector.publish.broker import free_port
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
STATION, PREFIX = "ualine", "ei-rel"  # write_config's topic prefix
FIRST_RUN = 12


@pytest.fixture
def opcua_server(tmp_path: Path, mosquitto_broker: Any) -> Iterator[tuple[OpcuaServerProcess, str]]:
    if importlib.util.find_spec("asyncua") is None:
        skip_unless_ci("asyncua is not installed (pip install -e .[opcua]); .ci/run installs it")
    port = free_port()
    folder = tmp_path / "opcua"
    folder.mkdir()
    server = OpcuaServerProcess(write_opcua_config(folder, mosquitto_broker, STATION, PREFIX, port)).start()
    yield server, f"opc.tcp://127.0.0.1:{port}/edge-inspector/"
    server.stop()


def unique(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PLC's view: de-duplicated by (station, run_id, seq), as the contract tells subscribers to."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in payloads:
        key = (p["station"], p["run_id"], p["seq"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def test_one_event_per_verdict_in_order_through_a_daemon_restart(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
        opcua_server: tuple[OpcuaServerProcess, str]) -> None:
    server, url = opcua_server
    model_dir, category, size = trained_model
    short, endless = tmp_path / "short.avi", tmp_path / "endless.avi"
    render_line_video(short, category, n_frames=FIRST_RUN, defect_rate=0.5, size=size, seed=40)
    render_line_video(endless, category, n_frames=20, defect_rate=0.5, size=size, seed=41)
    first = write_config(tmp_path / "first.yaml", model_dir=model_dir, broker=mosquitto_broker, station=STATION,
                         source={"kind": "video", "path": str(short)})
    second = write_config(tmp_path / "second.yaml", model_dir=model_dir, broker=mosquitto_broker, station=STATION,
                          source={"kind": "video", "path": str(endless), "loop": True, "fps": 5.0})
    plc = mqtt_subscriber(mosquitto_broker, f"{PREFIX}/{STATION}/verdict")
    env = {"OMP_NUM_THREADS": "1"}
    daemons: list[DaemonProcess] = []

    async def state_is(state: Any, name: str) -> bool:
        return bool((await state.read_value()).Text == name)

    async def scenario() -> list[dict[str, Any]]:
        client = await connect_when_up(url, tmp_path, server=server)
        try:
            state = await station_node(client, "VisionStateMachine", "CurrentState")
            number = await station_node(client, "VisionStateMachine", "CurrentState", "Number")
            connected = await station_node(client, "SystemState", "MqttConnected")
            assert await wait_until(lambda: _true(connected), 60), server.output()[-2000:]
            assert (await state.read_value()).Text == "Preoperational" and await number.read_value() == 1
            events = await subscribe_results(client)

            # run 1: a short video; the daemon exits cleanly when it ends -> Halted (StateNumber 2)
            daemons.append(DaemonProcess(first, env=env, name="daemon1").start())
            code = await asyncio.to_thread(daemons[0].wait, 240)
            assert code == 0, daemons[0].output()[-3000:]
            assert await wait_until(lambda: state_is(state, "Halted"), 60), await state.read_value()
            assert await number.read_value() == 2
            assert await wait_until(lambda: _at_least(events.events, FIRST_RUN), 60), len(events.events)
            model_id = await station_node(client, "RecipeManagement", "ActiveRecipe", "ModelId")
            assert await model_id.read_value() == verdicts(plc)[0]["model_id"]

            # run 2: the server kept running; a live (looping) source -> Operational, then SIGKILL -> Error
            daemons.append(DaemonProcess(second, env=env, name="daemon2").start())
            assert await wait_until(lambda: state_is(state, "Operational"), 240), daemons[1].output()[-3000:]
            assert await number.read_value() == 4
            assert await wait_until(lambda: _at_least(events.events, FIRST_RUN + 8), 240), len(events.events)
            run_id = await station_node(client, "SystemState", "RunId")
            second_run = await run_id.read_value()
            daemons[1].kill()
            assert await wait_until(lambda: state_is(state, "Error"), 60), await state.read_value()
            assert await number.read_value() == 3
            reason = await station_node(client, "VisionStateMachine", "StateReason")
            assert "last will" in await reason.read_value()
            # every verdict the PLC got has reached the server too before we compare
            assert await wait_until(lambda: _at_least(events.events, len(unique(verdicts(plc)))), 60)
            await asyncio.sleep(1.0)
            assert second_run == events.events[-1]["RunId"]
            return events.events
        finally:
            await client.disconnect()

    try:
        got = asyncio.run(scenario())
    finally:
        for daemon in daemons:
            daemon.stop()
    assert server.alive(), server.output()[-3000:]
    sent = unique(verdicts(plc))
    assert [(e["RunId"], e["Seq"]) for e in got] == [(v["run_id"], v["seq"]) for v in sent], \
        "one event per verdict, in the order the PLC got them"
    runs = list(dict.fromkeys(v["run_id"] for v in sent))
    assert len(runs) == 2, "the second run has a run id of its own"
    for run in runs:
        seqs = [v["seq"] for v in sent if v["run_id"] == run]
        assert seqs == list(range(len(seqs))), f"run {run}: seq in order without gaps"
    assert len([v for v in sent if v["run_id"] == runs[0]]) == FIRST_RUN
    assert {v["verdict"] for v in sent} >= {"PASS", "FAIL"}, "the videos have good and defective parts"
    for event, v in zip(got, sent):
        assert event["ResultId"] == f"{STATION}/{v['run_id']}/{v['seq']}"
        assert (event["Station"], event["Verdict"], event["ModelId"], event["Frame"]) == (
            v["station"], v["verdict"], v["model_id"], v["frame"])
        assert (event["Replayed"], event["Reason"], event["PartId"]) == (v["replayed"], v["reason"],
                                                                         v.get("part_id") or "")
        if v["score"] is None:
            assert math.isnan(event["Score"])
        else:
            assert event["Score"] == v["score"]
        assert event["Threshold"] == v["threshold"] and event["LatencyMs"] == v["latency_ms"]
        assert event["BoxCount"] == len(v["boxes"]) and json.loads(event["Boxes"]) == v["boxes"]
        assert event["CaptureTime"].timestamp() == pytest.approx(v["captured_ts"], abs=1e-3)
        decided = datetime.fromisoformat(v["decided_at"])
        assert event["DecisionTime"].timestamp() == pytest.approx(decided.timestamp(), abs=1e-3)
        assert event["IsPartial"] is False and event["IsSimulated"] is False


async def _true(node: Any) -> bool:
    return bool(await node.read_value())


async def _at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n
