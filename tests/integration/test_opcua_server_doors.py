"""The OPC UA server's two doors, through `edge-inspector opcua-server` as a child process with a real Mosquitto and
asyncua's Client as the peer: who may log in and what they may do (read only), and what the MQTT side does with
garbage, oversized, fuzzed and duplicate messages (counted, never fatal, never an event)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.ci import skip_unless_ci
from helpers.opcua_peer import (
    OpcuaServerProcess,
    connect_when_up,
    make_cert,
    secure_client,
    station_node,
    subscribe_results,
    wait_until,
    write_opcua_config,
)
from paho.mqtt import publish

from edge_inspector.publish.broker import free_port

pytestmark = pytest.mark.integration
STATION, PREFIX = "uadoors", "ei-ua"


@pytest.fixture
def opcua_server(tmp_path: Path, mosquitto_broker: Any) -> Iterator[tuple[OpcuaServerProcess, str]]:
    _needs_asyncua()
    port = free_port()
    server = OpcuaServerProcess(write_opcua_config(tmp_path, mosquitto_broker, STATION, PREFIX, port)).start()
    yield server, f"opc.tcp://127.0.0.1:{port}/edge-inspector/"
    server.stop()


def verdict(seq: int, **change: Any) -> dict[str, Any]:
    return {"schema": "edge-inspector/verdict", "version": 2, "station": STATION, "run_id": "20261206T120000Z-abcdef",
            "seq": seq, "source_index": seq, "frame": f"frame_{seq:06d}", "captured_at": "2026-12-06T12:00:01.250Z",
            "captured_ts": 1796558401.25, "decided_at": "2026-12-06T12:00:01.300Z", "latency_ms": 50.0,
            "verdict": "FAIL", "score": 0.75, "threshold": 0.5,
            "boxes": [{"x": 3, "y": 4, "w": 5, "h": 6, "area": 20, "peak": 0.9}], "reason": "score 0.750 >= 0.500",
            "model_id": "m-1", "replayed": False, "part_id": f"P-{seq}", **change}


def test_anonymous_and_wrong_passwords_are_refused_and_nothing_is_writable(
        tmp_path: Path, opcua_server: tuple[OpcuaServerProcess, str]) -> None:
    from asyncua import ua

    server, url = opcua_server

    async def scenario() -> None:
        client = await connect_when_up(url, tmp_path, server=server)  # the configured user: accepted
        try:
            seq = await station_node(client, "ResultManagement", "LastResult", "Seq")
            state = await station_node(client, "VisionStateMachine", "CurrentState")
            assert (await state.read_value()).Text == "Preoperational", "no status from the station yet"
            for node, value in ((seq, ua.Variant(5, ua.VariantType.Int64)), (state, ua.LocalizedText("Operational"))):
                with pytest.raises(ua.UaStatusCodeError):
                    await node.write_value(value)
            assert (await state.read_value()).Text == "Preoperational", "the write changed nothing"
        finally:
            await client.disconnect()
        for user, password in ((None, None), ("plc", "wrong"), ("root", "plc-secret-7f3a")):
            refused = await secure_client(url, tmp_path, user=user, password=password)
            with pytest.raises(ua.UaStatusCodeError) as info:
                await refused.connect()
            assert type(info.value).__name__ in ("BadIdentityTokenRejected", "BadUserAccessDenied",
                                                 "BadIdentityTokenInvalid"), info.value
        unsecured = await asyncio.wait_for(_connect_without_security(url), 30)
        assert unsecured is not None, "an endpoint without security was offered though the config names none"

    asyncio.run(scenario())
    assert server.alive(), server.output()[-2000:]


async def _connect_without_security(url: str) -> Exception | None:
    from asyncua import Client

    client = Client(url, timeout=10)
    try:
        await client.connect()
    except Exception as exc:  # noqa: BLE001 - any refusal will do; a session would be the failure
        return exc
    await client.disconnect()
    return None


def test_bad_mqtt_messages_are_counted_and_never_stop_the_events(
        tmp_path: Path, opcua_server: tuple[OpcuaServerProcess, str], mosquitto_broker: Any) -> None:
    server, url = opcua_server
    topic = f"{PREFIX}/{STATION}/verdict"
    rng = random.Random(22)
    bad: list[bytes] = [b"\x00{" + rng.randbytes(rng.randint(0, 200)) for _ in range(40)]  # not JSON
    for _ in range(40):  # a valid verdict with one field of the wrong type (each one against the contract)
        key, value = rng.choice([("seq", "7"), ("seq", -3), ("score", "high"), ("verdict", "OK"), ("boxes", {}),
                                 ("run_id", "a b"), ("replayed", 1), ("station", "other"), ("threshold", None)])
        bad.append(json.dumps({**verdict(99), key: value}).encode())
    bad.append(json.dumps(verdict(98, pad="x" * 70_000)).encode())  # valid but over 65536 bytes
    bad.append(b"{" * 2_000_000)  # 2 MB: over the limit, never decoded
    good = [verdict(0), verdict(1, verdict="PASS", score=0.1, boxes=[], part_id=None),
            verdict(2, verdict="FAULT", score=None, boxes=[])]

    async def scenario() -> None:
        client = await connect_when_up(url, tmp_path, server=server)
        try:
            connected = await station_node(client, "SystemState", "MqttConnected")
            assert await wait_until(lambda: _is_true(connected), 60), server.output()[-2000:]
            log = await subscribe_results(client)
            server_log = await subscribe_results(client, client.nodes.server)  # where many clients listen
            messages = [bad[:40], [json.dumps(good[0]).encode()], bad[40:], [json.dumps(good[1]).encode()] * 2,
                        [json.dumps(good[2]).encode()]]
            for payload in [p for group in messages for p in group]:
                await asyncio.to_thread(publish.single, topic, payload, qos=1, hostname=mosquitto_broker.host,
                                        port=mosquitto_broker.port)
            rejected = await station_node(client, "ResultManagement", "Diagnostics", "MessagesRejected")
            assert await wait_until(lambda: _equals(rejected, len(bad)), 60), await rejected.read_value()
            assert await wait_until(lambda: _length(log.events, 3), 30), log.events
            await asyncio.sleep(1.0)  # a late extra event (a duplicate or a bad message) would show now
            assert [e["Seq"] for e in log.events] == [0, 1, 2], "one event per good verdict, in order"
            assert [e["Seq"] for e in server_log.events] == [0, 1, 2], "the Server object gets them too"
            first, second, third = log.events
            assert (first["Verdict"], first["Score"], first["PartId"], first["BoxCount"]) == ("FAIL", 0.75, "P-0", 1)
            assert json.loads(first["Boxes"]) == good[0]["boxes"]
            assert first["CaptureTime"].timestamp() == pytest.approx(1796558401.25, abs=1e-3)
            assert (second["Verdict"], second["PartId"]) == ("PASS", ""), "no part id: an empty string"
            assert third["Verdict"] == "FAULT" and math.isnan(third["Score"]), "an unscored FAULT: NaN"
            duplicates = await station_node(client, "ResultManagement", "Diagnostics", "DuplicatesDropped")
            assert await duplicates.read_value() == 1
            last = await station_node(client, "ResultManagement", "LastResult", "Seq")
            assert await last.read_value() == 2
            # the NodeIds docs/deploy.md gives a PLC's client configuration
            assert await client.get_namespace_index("urn:edge-inspector:machine-vision") == 2
            by_id = client.get_node("ns=2;s=VisionSystem.ResultManagement.LastResult.Verdict")
            assert await by_id.read_value() == "FAULT"
        finally:
            await client.disconnect()

    asyncio.run(scenario())
    assert server.alive(), server.output()[-2000:]
    log_text = server.output()
    assert "dropped a message" in log_text
    assert max(len(line) for line in log_text.splitlines()) < 2000, "logged values are capped"
    assert log_text.count("dropped a message") <= 6, "one warning per kind a minute, not one per message"


async def _is_true(node: Any) -> bool:
    return bool(await node.read_value())


async def _equals(node: Any, value: Any) -> bool:
    return bool(await node.read_value() == value)


async def _length(items: list[Any], n: int) -> bool:
    return len(items) >= n


def _needs_asyncua() -> None:
    if importlib.util.find_spec("asyncua") is None:
        skip_unless_ci("asyncua is not installed (pip install -e .[opcua]); .ci/run installs it")


def _start(tmp_path: Path, broker: Any, **opcua: Any) -> tuple[OpcuaServerProcess, str]:
    _needs_asyncua()
    port = free_port()
    server = OpcuaServerProcess(write_opcua_config(tmp_path, broker, STATION, PREFIX, port, **opcua)).start()
    return server, f"opc.tcp://127.0.0.1:{port}/edge-inspector/"


@pytest.mark.parametrize("trusted", ["own", "other"])
def test_only_trusted_client_certificates_get_a_session(tmp_path: Path, mosquitto_broker: Any, trusted: str) -> None:
    _needs_asyncua()
    own, _ = make_cert(tmp_path, "client", "urn:edge-inspector:test-client", server=False)
    other, _ = make_cert(tmp_path, "stranger", "urn:edge-inspector:stranger", server=False)
    server, url = _start(tmp_path, mosquitto_broker, trusted_clients=[str(own if trusted == "own" else other)])

    async def scenario() -> None:
        if trusted == "own":
            client = await connect_when_up(url, tmp_path, server=server)
            state = await station_node(client, "VisionStateMachine", "CurrentState")
            assert (await state.read_value()).Text in ("Preoperational", "Error", "Operational", "Halted")
            await client.disconnect()
        else:
            await connect_when_up_or_refused(url, tmp_path)

    try:
        asyncio.run(scenario())
        assert server.alive(), server.output()[-2000:]
    finally:
        server.stop()
    if trusted == "other":
        assert "not in opcua.trusted_clients" in server.output()


async def connect_when_up_or_refused(url: str, folder: Path) -> None:
    """The server is up (its endpoints answer) but refuses this client's certificate."""
    from asyncua import ua

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        try:
            client = await secure_client(url, folder)
            break
        except OSError:
            assert loop.time() < deadline, "the server never came up"
            await asyncio.sleep(0.5)
    with pytest.raises((ua.UaStatusCodeError, ConnectionError, asyncio.TimeoutError, OSError)):
        await client.connect()
        await client.disconnect()


def test_anonymous_reads_only_when_the_config_enables_it(tmp_path: Path, mosquitto_broker: Any) -> None:
    from asyncua import ua

    server, url = _start(tmp_path, mosquitto_broker, allow_anonymous=True, users=[])

    async def scenario() -> None:
        client = await connect_when_up(url, tmp_path, server=server, user=None, password=None)
        try:
            state = await station_node(client, "VisionStateMachine", "CurrentState")
            assert (await state.read_value()).Text
            with pytest.raises(ua.UaStatusCodeError):
                await state.write_value(ua.LocalizedText("Operational"))
        finally:
            await client.disconnect()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
