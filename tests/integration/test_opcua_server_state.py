"""The OPC UA server's state directory through `edge-inspector opcua-server` as systemd starts it: a garbage or
oversized results.sqlite is moved aside with one warning and the server serves (no crash loop); a directory
it cannot use is one line and exit 2 (the unit's RestartPreventExitStatus); LastResult and the history come
back after a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.opcua_peer import (
    OpcuaServerProcess,
    connect_when_up,
    needs_asyncua,
    read_history,
    station_node,
    subscribe_results,
    wait_until,
    write_opcua_config,
)
from paho.mqtt import publish

from edge_inspector.publish.broker import free_port

pytestmark = pytest.mark.integration
STATION, PREFIX = "uastate", "ei-st"


def verdict(seq: int) -> bytes:
    return json.dumps({
        "schema": "edge-inspector/verdict", "version": 2, "station": STATION, "run_id": "20261207T010000Z-aaaaaa",
        "seq": seq, "source_index": seq, "frame": f"f{seq}", "captured_at": "2026-12-07T01:00:01.000Z",
        "captured_ts": 1796605201.0, "decided_at": "2026-12-07T01:00:01.050Z", "latency_ms": 50.0,
        "verdict": "PASS", "score": 0.1, "threshold": 0.5, "boxes": [], "reason": "ok", "model_id": "m",
        "replayed": False}).encode()


@pytest.mark.parametrize("garbage", [b"\x00garbage" * 1000, b"SQLite format 3\x00" + b"\xee" * 8000])
def test_a_garbage_history_is_moved_aside_and_the_server_serves_and_remembers(
        tmp_path: Path, mosquitto_broker: Any, garbage: bytes) -> None:
    needs_asyncua()
    state = tmp_path / "state"
    state.mkdir()
    (state / "results.sqlite").write_bytes(garbage)
    port = free_port()
    config = write_opcua_config(tmp_path, mosquitto_broker, STATION, PREFIX, port, state_dir=str(state))
    url = f"opc.tcp://127.0.0.1:{port}/edge-inspector/"

    async def session(send: int) -> tuple[int, list[int]]:
        client = await connect_when_up(url, tmp_path, server=server)
        try:
            connected = await station_node(client, "SystemState", "MqttConnected")
            assert await wait_until(lambda: _value_is(connected, True), 60), server.output()[-2000:]
            for seq in range(send):
                await asyncio.to_thread(publish.single, f"{PREFIX}/{STATION}/verdict", verdict(seq), qos=1,
                                        hostname=mosquitto_broker.host, port=mosquitto_broker.port)
            last = await station_node(client, "ResultManagement", "LastResult", "Seq")
            assert await wait_until(lambda: _value_is(last, 2), 60), await last.read_value()
            return await last.read_value(), [e["Seq"] for e in await read_history(client)]
        finally:
            await client.disconnect()

    server = OpcuaServerProcess(config).start()
    try:
        assert asyncio.run(session(3)) == (2, [0, 1, 2])
        assert server.terminate() == 0
    finally:
        server.stop()
    log = server.output()
    assert log.count("moved aside") == 1 and "Traceback" not in log, log[-2000:]
    aside = [p.name for p in state.iterdir() if p.name.startswith("results.sqlite.bad-")]
    assert len(aside) == 1 and (state / aside[0]).read_bytes() == garbage, "kept for a look"
    server = OpcuaServerProcess(config).start()  # again: LastResult and the history survive the restart
    try:
        assert asyncio.run(session(0)) == (2, [0, 1, 2])
    finally:
        server.stop()
    assert server.output().count("moved aside") == 1, "the fresh history is ours: not moved aside again"


def test_a_state_dir_it_cannot_use_is_one_line_and_exit_2(tmp_path: Path, mosquitto_broker: Any) -> None:
    needs_asyncua()
    (tmp_path / "a-file").write_text("x")
    config = write_opcua_config(tmp_path, mosquitto_broker, STATION, PREFIX, free_port(),
                                state_dir=str(tmp_path / "a-file" / "state"))
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "opcua-server", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "opcua.state_dir" in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_verdict_emitted_before_a_crash_is_not_emitted_again_when_it_comes_again(
        tmp_path: Path, mosquitto_broker: Any) -> None:
    """A redelivery after a SIGKILL (the broker resends what it had no acknowledgement for) is a duplicate the
    restarted server drops: the record of emitted results is on disk, not only in memory."""
    needs_asyncua()
    port = free_port()
    config = write_opcua_config(tmp_path, mosquitto_broker, STATION, PREFIX, port, state_dir=str(tmp_path / "s"))
    url = f"opc.tcp://127.0.0.1:{port}/edge-inspector/"

    async def session(seqs: list[int], until: int) -> tuple[list[int], int, int]:
        client = await connect_when_up(url, tmp_path, server=server)
        try:
            connected = await station_node(client, "SystemState", "MqttConnected")
            assert await wait_until(lambda: _value_is(connected, True), 60), server.output()[-2000:]
            events = await subscribe_results(client)
            for seq in seqs:
                await asyncio.to_thread(publish.single, f"{PREFIX}/{STATION}/verdict", verdict(seq), qos=1,
                                        hostname=mosquitto_broker.host, port=mosquitto_broker.port)
            last = await station_node(client, "ResultManagement", "LastResult", "Seq")
            assert await wait_until(lambda: _value_is(last, until), 60), await last.read_value()
            await asyncio.sleep(1.0)  # a late duplicate event would arrive now
            duplicates = await station_node(client, "ResultManagement", "Diagnostics", "DuplicatesDropped")
            return [e["Seq"] for e in events.events], await duplicates.read_value(), len(await read_history(client))
        finally:
            await client.disconnect()

    server = OpcuaServerProcess(config).start()
    try:
        assert asyncio.run(session([0, 1, 2], 2)) == ([0, 1, 2], 0, 3)
        assert server.kill() == -9
        server = OpcuaServerProcess(config).start()
        assert asyncio.run(session([1, 2, 3], 3)) == ([3], 2, 4), "1 and 2 again: dropped, counted"
    finally:
        server.stop()


async def _value_is(node: Any, value: Any) -> bool:
    return bool(await node.read_value() == value)
