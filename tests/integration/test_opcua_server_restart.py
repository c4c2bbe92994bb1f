"""End to end through restarts of the OPC UA SERVER itself: the real daemon (`edge-inspector run`) publishes an
endless line to a real Mosquitto; `edge-inspector opcua-server` (a child, with a state directory) is killed with
SIGKILL once and stopped cleanly once while the line keeps running; asyncua's Client is the PLC/MES.

What the client does is what a demanding integrator's client does: subscribe to ResultReady events; after each
server restart reconnect, subscribe again, then read the event history (HistoryRead) from the Time of the last
event it saw, dropping what it already has by EventId. The union must be one result per verdict the MQTT
subscriber saw (de-duplicated by the contract's key), in the same order, fields matching; and the server's own
history, read from the start, must hold each verdict exactly once (nothing lost while the server was down: the
broker held them for its persistent session; nothing emitted twice after the crash: the server records each
result before it fires the event and acknowledges the message)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import DaemonProcess, verdicts, write_config
from helpers.opcua_peer import (
    OpcuaServerProcess,
    assert_event_matches,
    connect_when_up,
    needs_asyncua,
    read_history,
    station_node,
    subscribe_results,
    unique_verdicts,
    wait_until,
    write_opcua_config,
)

from edge_inspector.publish.broker import free_port
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
STATION, PREFIX = "uarestart", "ei-rel"  # write_config's topic prefix
STEP = 6  # verdicts each phase waits for


class Plc:
    """The client's merged view: events in the order it learnt of them, each result once (by EventId)."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.seen: set[bytes] = set()
        self.live: list[Any] = []  # the EventLogs of the subscriptions, one per connection

    def take(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["EventId"] not in self.seen:
                self.seen.add(event["EventId"])
                self.results.append(event)

    def drain(self) -> None:
        """Merge what the current subscription delivered so far (it keeps its own list)."""
        for log in self.live:
            self.take(log.events)


@pytest.fixture
def line(tmp_path: Path, trained_model: Any, mosquitto_broker: Any) -> Iterator[DaemonProcess]:
    needs_asyncua()
    model_dir, category, size = trained_model
    video = tmp_path / "endless.avi"
    render_line_video(video, category, n_frames=20, defect_rate=0.5, size=size, seed=52)
    cfg = write_config(tmp_path / "line.yaml", model_dir=model_dir, broker=mosquitto_broker, station=STATION,
                       source={"kind": "video", "path": str(video), "loop": True, "fps": 4.0})
    daemon = DaemonProcess(cfg, env={"OMP_NUM_THREADS": "1"}, name="daemon")
    yield daemon
    daemon.stop()


def test_every_result_once_and_in_order_through_a_crash_and_a_clean_restart_of_the_server(
        tmp_path: Path, mosquitto_broker: Any, mqtt_subscriber: Any, line: DaemonProcess) -> None:
    folder = tmp_path / "opcua"
    folder.mkdir()
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}/edge-inspector/"
    config = write_opcua_config(folder, mosquitto_broker, STATION, PREFIX, port, state_dir=str(folder / "state"))
    plc_mqtt = mqtt_subscriber(mosquitto_broker, f"{PREFIX}/{STATION}/verdict")
    plc = Plc()
    servers: list[OpcuaServerProcess] = []

    def sent() -> list[dict[str, Any]]:
        return unique_verdicts(verdicts(plc_mqtt))

    async def mqtt_at_least(n: int) -> bool:
        return len(sent()) >= n

    async def connect() -> Any:
        """Start the server (again), connect, subscribe, then catch up from the last event seen."""
        servers.append(OpcuaServerProcess(config).start())
        client = await connect_when_up(url, tmp_path, server=servers[-1])
        connected = await station_node(client, "SystemState", "MqttConnected")
        assert await wait_until(lambda: _true(connected), 60), servers[-1].output()[-2000:]
        plc.live.append(await subscribe_results(client))  # first subscribe, then read history: no gap
        plc.drain()
        since = plc.results[-1]["Time"] if plc.results else None
        plc.take(await read_history(client, since))
        return client

    async def gone(client: Any) -> None:
        """The server went away: keep what its subscription delivered, drop the dead connection."""
        plc.drain()
        plc.live.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 10)

    async def scenario() -> list[dict[str, Any]]:
        client = await connect()
        line.start()
        assert await wait_until(lambda: _live_at_least(plc, STEP), 300), line.output()[-3000:]

        # 1. SIGKILL mid-run: the line goes on publishing while the server is down
        assert servers[-1].kill() == -9
        await gone(client)
        assert await wait_until(lambda: mqtt_at_least(len(plc.results) + 2 * STEP), 300)
        client = await connect()
        assert await wait_until(lambda: _live_at_least(plc, STEP), 300), servers[-1].output()[-3000:]

        # 2. a clean stop (SIGTERM), the line still running
        assert servers[-1].terminate() == 0, servers[-1].output()[-3000:]
        await gone(client)
        assert await wait_until(lambda: mqtt_at_least(len(plc.results) + 2 * STEP), 300)
        client = await connect()

        # 3. the line stops; the client has every verdict the MQTT subscriber has
        code, _ = line.terminate(120)
        assert code == 0, line.output()[-3000:]
        expected = len(sent())
        assert await wait_until(lambda: _merged_at_least(plc, expected), 120), (len(plc.results), expected)
        await asyncio.sleep(1.0)  # a late duplicate event would arrive now
        plc.drain()
        everything = await read_history(client)
        await gone(client)
        return everything

    try:
        history = asyncio.run(scenario())
    finally:
        for server in servers:
            server.stop()
    want = sent()
    assert len(want) >= 6 * STEP and len(servers) == 3
    keys = [(v["run_id"], v["seq"]) for v in want]
    assert len({k[0] for k in keys}) == 1, "one daemon run throughout"
    assert [k[1] for k in keys] == list(range(len(keys))), "the MQTT subscriber saw seq 0.. without gaps"
    assert [(e["RunId"], e["Seq"]) for e in plc.results] == keys, "live + history: each result once, in order"
    for event, v in zip(plc.results, want):
        assert_event_matches(event, v, STATION)
    assert [(e["RunId"], e["Seq"]) for e in history] == keys, "the server's history: each result exactly once"
    times = [e["Time"] for e in history]
    assert times == sorted(set(times)), "event times are unique and increasing across restarts"
    for event, v in zip(history, want):
        assert_event_matches(event, v, STATION)
    logs = "".join(s.output() for s in servers)
    assert "moved aside" not in logs and "Traceback" not in logs, logs[-3000:]


async def _true(node: Any) -> bool:
    return bool(await node.read_value())


async def _live_at_least(plc: Plc, n: int) -> bool:
    return bool(plc.live) and len(plc.live[-1].events) >= n


async def _merged_at_least(plc: Plc, n: int) -> bool:
    plc.drain()
    return len(plc.results) >= n
