"""Helpers for the OPC UA tests: certificates, an OPCUA.yaml, the server as a child process
(`python -m edge_inspector.cli opcua-server`, as systemd would start it) and asyncua's Client as the peer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PASSWORD = "plc-secret-7f3a"


def make_cert(folder: Path, name: str, app_uri: str, server: bool) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) and its key (PEM, mode 0600) for `app_uri`."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key, cert = folder / f"{name}-key.pem", folder / f"{name}-cert.der"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    asyncio.run(setup_self_signed_certificate(key, cert, app_uri, "localhost", use, {"commonName": name}))
    os.chmod(key, 0o600)
    return cert, key


def write_opcua_config(folder: Path, broker: Any, station: str, prefix: str, port: int,
                       **opcua: Any) -> Path:
    """OPCUA.yaml for `station` on `broker`, Basic256Sha256 SignAndEncrypt, user `plc` (password in a file)."""
    cert, key = make_cert(folder, "server", "urn:edge-inspector:test-server", server=True)
    password = folder / "plc.password"
    password.write_text(PASSWORD + "\n")
    os.chmod(password, 0o600)
    section: dict[str, Any] = {
        "endpoint": f"opc.tcp://127.0.0.1:{port}/edge-inspector/",
        "application_uri": "urn:edge-inspector:test-server",
        "security_policies": ["Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt"],
        "certificate": str(cert), "private_key": str(key),
        "users": [{"username": "plc", "password_file": str(password)}],
        **opcua,
    }
    cfg = {"station_id": station, "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix},
           "opcua": section}
    path = folder / "opcua.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class OpcuaServerProcess:
    """`edge-inspector opcua-server --config FILE` as a child; its output goes to a log file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log = config.parent / "opcua-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OpcuaServerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge_inspector.cli", "opcua-server",
                                          "--config", str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        """SIGKILL, as a crash or the OOM killer would: no cleanup of any kind."""
        assert self.proc is not None
        self.proc.kill()
        return self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def secure_client(url: str, folder: Path, user: str | None = "plc", password: str | None = PASSWORD,
                        mode: str = "SignAndEncrypt") -> Any:
    """An asyncua Client set up for Basic256Sha256 `mode` with its own certificate (not yet connected)."""
    from asyncua import Client
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    app_uri = "urn:edge-inspector:test-client"
    cert, key = folder / "client-cert.der", folder / "client-key.pem"
    if not cert.exists():
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        await setup_self_signed_certificate(key, cert, app_uri, "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH],
                                            {"commonName": "test-client"})
    client = Client(url, timeout=10)
    client.application_uri = app_uri
    from asyncua import ua

    await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                              mode=getattr(ua.MessageSecurityMode, mode))
    if user is not None:
        client.set_user(user)
    if password is not None:
        client.set_password(password)
    return client


async def connect_when_up(url: str, folder: Path, timeout: float = 60.0, server: OpcuaServerProcess | None = None,
                          **kwargs: Any) -> Any:
    """secure_client(...) connected, retried while the server is still starting (connection refused); fails at
    once with the server's output when `server` has exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            client = await secure_client(url, folder, **kwargs)
            await client.connect()
            return client
        except (OSError, asyncio.TimeoutError):
            if server is not None and not server.alive():
                raise AssertionError(f"the OPC UA server exited: {server.output()[-3000:]}") from None
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


NAMESPACE = "urn:edge-inspector:machine-vision"


class EventLog:
    """asyncua subscription handler: every ResultReady event as a dict of its fields, in arrival order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event_notification(self, event: Any) -> None:
        self.events.append(dict(vars(event)))  # the selected fields by browse name: Seq, Verdict, Score, ...


async def station_node(client: Any, *path: str) -> Any:
    """The node at Objects/VisionSystem/<path...> in the station's namespace."""
    idx = await client.get_namespace_index(NAMESPACE)
    return await client.nodes.objects.get_child([f"{idx}:VisionSystem", *(f"{idx}:{p}" for p in path)])


async def subscribe_results(client: Any, source: Any = None) -> EventLog:
    """Subscribe to ResultReadyEventType on `source` (default: the VisionSystem object); queue large enough for a
    burst."""
    idx = await client.get_namespace_index(NAMESPACE)
    event_type = await client.nodes.base_event_type.get_child(f"{idx}:ResultReadyEventType")
    log = EventLog()
    sub = await client.create_subscription(100, log)
    await sub.subscribe_events(source or await station_node(client), event_type, queuesize=10_000)
    return log


def needs_asyncua() -> None:
    """Skip (locally) or fail (CI) without asyncua."""
    import importlib.util

    from helpers.ci import skip_unless_ci

    if importlib.util.find_spec("asyncua") is None:
        skip_unless_ci("asyncua is not installed (pip install -e .[opcua]); .ci/run installs it")


def unique_verdicts(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PLC's view of the MQTT verdicts: de-duplicated by (station, run_id, seq), as the contract says."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in payloads:
        key = (p["station"], p["run_id"], p["seq"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


async def read_history(client: Any, since: Any = None) -> list[dict[str, Any]]:
    """HistoryRead (ReadEventDetails) of the VisionSystem's ResultReady events from `since` (a datetime; None:
    from the first one kept), oldest first, each as a dict of its fields."""
    from datetime import datetime, timezone

    idx = await client.get_namespace_index(NAMESPACE)
    event_type = await client.nodes.base_event_type.get_child(f"{idx}:ResultReadyEventType")
    vs = await station_node(client)
    start = since or datetime(2000, 1, 1, tzinfo=timezone.utc)
    return [dict(vars(e)) for e in await vs.read_event_history(start, None, 0, event_type)]


def assert_event_matches(event: dict[str, Any], v: dict[str, Any], station: str) -> None:
    """The ResultReady event `event` carries the fields of the MQTT verdict `v` (the PLC subscriber's copy)."""
    import json
    import math
    from datetime import datetime

    import pytest

    key = f"{station}/{v['run_id']}/{v['seq']}"
    assert event["ResultId"] == key and event["EventId"] == key.encode(), "one EventId per result"
    assert (event["Station"], event["RunId"], event["Seq"]) == (v["station"], v["run_id"], v["seq"])
    assert (event["Verdict"], event["ModelId"], event["Frame"]) == (v["verdict"], v["model_id"], v["frame"])
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


async def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> bool:
    """Await an async predicate until it is true or `timeout` seconds pass (the loop keeps running)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await predicate():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(interval)
