"""The Sparkplug edge node's sender thread against a real Mosquitto and a simulated primary host, decoded by
pysparkplug (Tahu's classes): the STATE rule, store-and-forward through host and broker outages, rebirth,
bad NCMDs. The daemon end to end is in test_sparkplug_daemon.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if not os.environ.get("CI"):  # .ci/run installs it: in CI a missing decoder fails instead of skipping
    pytest.importorskip("pysparkplug", reason="the independent Sparkplug decoder: pip install --no-deps "
                        "-c constraints.txt pysparkplug==0.6.1 (.ci/run does)")

from helpers.sparkplug_host import SparkplugHost, session_messages, verdict_seqs  # noqa: E402

from edge_inspector.config.models import MqttConfig  # noqa: E402
from edge_inspector.publish.spool import Spool  # noqa: E402
from edge_inspector.sparkplug.edge_node import NodeIds, SparkplugEdgeNode  # noqa: E402

pytestmark = pytest.mark.integration
T0 = 1714564800.0


def verdict(seq: int, kind: str = "PASS") -> bytes:
    return json.dumps({"schema": "edge-inspector/verdict", "version": 2, "station": "spb", "run_id": "r1",
                       "seq": seq, "frame": f"frame_{seq:06d}", "captured_ts": T0 + seq * 0.5,
                       "latency_ms": 3.0, "verdict": kind, "score": 0.1 if kind == "PASS" else 0.9,
                       "threshold": 0.5, "boxes": [], "reason": "r", "model_id": "m", "replayed": False}).encode()


def make_node(broker: object, tmp_path: Path, group: str, host_id: str | None = "scada") -> SparkplugEdgeNode:
    mqtt_cfg = MqttConfig(host=broker.host, port=broker.port, reconnect_max_delay=1.0)  # type: ignore[attr-defined]
    spool = Spool(tmp_path / f"{group}.sqlite")
    return SparkplugEdgeNode(NodeIds(group, "node1", "station", host_id), mqtt_cfg, "spb", "r1", spool,
                             client_id=f"ei-test-{group}-{time.monotonic_ns()}",
                             bd_seq_file=tmp_path / f"{group}.bdseq", max_inflight=5)


@pytest.fixture
def cleanup() -> Iterator[list[object]]:
    things: list[object] = []
    yield things
    for thing in reversed(things):
        with contextlib.suppress(Exception):  # cleanup of a test that may already have failed
            thing.stop(1.0) if isinstance(thing, SparkplugEdgeNode) else thing.stop()  # type: ignore[attr-defined]


def _seqs_continue(session: list[object]) -> bool:
    return [m.payload.seq for m in session] == [i % 256 for i in range(len(session))]  # type: ignore[attr-defined]


def test_host_offline_holds_everything_then_birth_and_history_in_order(
        mosquitto_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-hold", "scada").start()
    cleanup.append(host)
    host.clear_state()
    node = make_node(mosquitto_broker, tmp_path, "G-hold")
    cleanup.append(node)
    node.start()
    host.set_state(False)
    for seq in range(20):
        node.submit("r1", seq, verdict(seq, "FAIL" if seq % 3 == 0 else "PASS"), False)
    time.sleep(2.0)  # the node had every chance to publish: with the host offline it must not
    assert host.of("NBIRTH", "DBIRTH", "DDATA") == [] and node.spool.depth == 20
    host.set_state(True)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 20, 30), host.messages
    for seq in range(20, 300):  # live verdicts after the birth, seq wraps past 255
        node.submit("r1", seq, verdict(seq), False)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 300, 60)
    assert host.errors == []
    (session,) = session_messages(host.messages)
    assert [m.kind for m in session[:2]] == ["NBIRTH", "DBIRTH"]
    assert _seqs_continue(session)
    ddata = [m for m in session if m.kind == "DDATA"]
    assert verdict_seqs(ddata) == list(range(300))
    for m in ddata[:20]:
        seq = m.values()["Inspection/Seq"]
        assert all(x.is_historical for x in m.payload.metrics)
        assert {x.timestamp for x in m.payload.metrics} == {round((T0 + seq * 0.5) * 1000)}
    assert not any(x.is_historical for m in ddata[20:] for x in m.payload.metrics)
    assert ddata[-1].values()["Counts/Total"] == 300 and ddata[-1].values()["Counts/Fail"] == 7
    assert host.wait_for(lambda: node.spool.depth == 0, 10)


def test_host_going_offline_stops_publishing_and_comes_back_with_a_rebirth(
        mosquitto_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-away", "scada").start()
    cleanup.append(host)
    host.set_state(True)
    node = make_node(mosquitto_broker, tmp_path, "G-away")
    cleanup.append(node)
    node.start()
    for seq in range(5):
        node.submit("r1", seq, verdict(seq), False)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 5, 30)
    host.set_state(False)
    time.sleep(1.0)
    before = len(host.messages)
    for seq in range(5, 15):
        node.submit("r1", seq, verdict(seq), False)
    time.sleep(2.0)
    assert len(host.messages) == before and node.spool.depth == 10
    host.set_state(True)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 15, 30)
    first, second = session_messages(host.messages)
    assert _seqs_continue(first) and _seqs_continue(second)
    assert first[0].values()["bdSeq"] == second[0].values()["bdSeq"]  # same connection: same bdSeq
    held = [m for m in second if m.kind == "DDATA"]
    assert verdict_seqs(held) == list(range(5, 15))
    assert all(x.is_historical for m in held for x in m.payload.metrics)


def test_no_primary_host_configured_publishes_when_connected(
        mosquitto_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-free", "unused").start()
    cleanup.append(host)
    node = make_node(mosquitto_broker, tmp_path, "G-free", host_id=None)
    cleanup.append(node)
    node.start()
    node.submit("r1", 0, verdict(0), False)
    assert host.wait_for(lambda: verdict_seqs(host.messages) == [0], 30)


def test_rebirth_on_ncmd_and_bad_ncmds_are_counted(
        mosquitto_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-ncmd", "scada").start()
    cleanup.append(host)
    host.set_state(True)
    node = make_node(mosquitto_broker, tmp_path, "G-ncmd")
    cleanup.append(node)
    node.start()
    node.submit("r1", 0, verdict(0), False)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 1, 30)
    host.send_ncmd("node1", b"\x12\x05garbage")
    host.send_ncmd("node1", b"\x12" + b"\xff" * 70000)  # oversized: dropped before it is read
    state = "spBv1.0/STATE/scada"
    host.client.publish(state, b'{"online": ' + b" " * 70000 + b"false}", qos=1).wait_for_publish(5)  # oversized
    host.client.publish(state, b'{"online": "nope"}', qos=1).wait_for_publish(5)  # unreadable: ignored
    host.rebirth("node1")
    assert host.wait_for(lambda: len(host.of("NBIRTH")) >= 2, 30)
    node.submit("r1", 1, verdict(1), False)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 2, 30)
    first, second = session_messages(host.messages)[:2]
    assert first[0].values()["bdSeq"] == second[0].values()["bdSeq"]
    assert [m.payload.seq for m in second[:3]] == [0, 1, 2] and verdict_seqs(second) == [1]
    assert second[1].values()["Counts/Total"] == 1  # the birth reports the live values
    assert node.session.bad.counts == {"bad_ncmd": 1, "oversize": 2, "bad_state": 1}
    assert node.stats().host_online, "a bad STATE changes nothing"
    assert node.is_alive()


def test_broker_outage_loses_nothing_and_bdseq_moves_on(
        fresh_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    node = make_node(fresh_broker, tmp_path, "G-out")
    cleanup.append(node)
    host = SparkplugHost(fresh_broker.host, fresh_broker.port, "G-out", "scada", client_id="spb-host-out").start()
    cleanup.append(host)
    host.set_state(True)
    time.sleep(1.5)  # the broker autosaves every second: the host's session and STATE survive its SIGKILL
    node.start()
    for seq in range(10):
        node.submit("r1", seq, verdict(seq), False)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 10, 30)
    with fresh_broker.conf.open("a") as f:  # read at the restart: the births are QoS 0 (Sparkplug), and the
        f.write("queue_qos0_messages true\n")  # simulated host may reconnect after the node does
    fresh_broker.kill()
    for seq in range(10, 40):
        node.submit("r1", seq, verdict(seq), False)
    time.sleep(1.0)
    fresh_broker.start()
    # The host republishes its STATE on reconnecting, as Ignition does; the node births only after a STATE of the
    # new session (the retained one, if the broker kept it, or this one)
    assert host.wait_subscribed(30)
    host.set_state(True)
    assert host.wait_for(lambda: len(set(verdict_seqs(host.messages))) >= 40, 60), (
        str([(m.kind, m.payload.seq, m.values().get("Inspection/Seq")) for m in host.messages]))
    assert host.errors == []
    sessions = session_messages(host.messages)
    assert len(sessions) == 2 and all(_seqs_continue(s) for s in sessions)
    bd = [s[0].values()["bdSeq"] for s in sessions]
    assert bd[1] == (bd[0] + 1) % 256
    got = verdict_seqs([m for s in sessions for m in s])
    assert sorted(set(got)) == list(range(40))
    # in order; a verdict sent before the kill whose PUBACK was lost may come again (at least once), never out of order
    assert got == sorted(got)
    after = [m for m in sessions[1] if m.kind == "DDATA"]
    assert all(x.is_historical for m in after for x in m.payload.metrics)


def test_clean_stop_sends_ndeath_with_the_sessions_bdseq(
        mosquitto_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-stop", "scada").start()
    cleanup.append(host)
    host.set_state(True)
    node = make_node(mosquitto_broker, tmp_path, "G-stop")
    node.start()
    assert host.wait_for(lambda: len(host.of("DBIRTH")) >= 1, 30)
    node.stop(2.0)
    assert host.wait_for(lambda: len(host.of("NDEATH")) >= 1, 10)
    death = host.of("NDEATH")[0].payload.bd_seq_metric.value
    assert death == host.of("NBIRTH")[0].values()["bdSeq"]


def test_unacknowledged_data_of_a_lost_session_never_precede_the_new_birth(
        fresh_broker, tmp_path: Path, cleanup: list[object]) -> None:  # type: ignore[no-untyped-def]
    """DDATA sent into a hung broker (no PUBACK) and then lost with the connection: paho would resend them on
    the next connection, before the new NBIRTH, with the dead session's seq. The node drops paho's copies; the
    outbox sends them again after the birth, as historical data."""
    with fresh_broker.conf.open("a") as f:
        f.write("queue_qos0_messages true\n")
    host = SparkplugHost(fresh_broker.host, fresh_broker.port, "G-hung", "scada", client_id="spb-host-hung").start()
    cleanup.append(host)
    host.set_state(True)
    time.sleep(1.5)  # the broker autosaves every second: the host's session survives the SIGKILL
    node = make_node(fresh_broker, tmp_path, "G-hung")
    cleanup.append(node)
    node.start()
    node.submit("r1", 0, verdict(0), False)
    assert host.wait_for(lambda: verdict_seqs(host.messages) == [0], 30)
    before = len(host.messages)
    fresh_broker.pause()
    for seq in range(1, 6):
        node.submit("r1", seq, verdict(seq), False)
    deadline = time.monotonic() + 30
    while node.published < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.published == 6, "sent into the hung broker"
    fresh_broker.kill()
    fresh_broker.start()
    assert host.wait_subscribed(30)
    host.set_state(True)
    assert host.wait_for(lambda: len(set(verdict_seqs(host.messages))) >= 6, 60)
    after = host.messages[before:]
    assert after[0].kind == "NBIRTH", [(m.kind, m.payload.seq) for m in after[:8]]
    assert verdict_seqs(after) == [1, 2, 3, 4, 5]
    # nothing of the dead session after the new birth either: one session of unbroken seq, each verdict once,
    # under the new bdSeq
    sessions = session_messages(host.messages)
    assert len(sessions) == 2 and all(_seqs_continue(s) for s in sessions), [
        [(m.kind, m.payload.seq) for m in s] for s in sessions]
    assert verdict_seqs(sessions[1]) == [1, 2, 3, 4, 5]
    assert sessions[1][0].values()["bdSeq"] == (sessions[0][0].values()["bdSeq"] + 1) % 256
    assert all(x.is_historical for m in sessions[1] if m.kind == "DDATA" for x in m.payload.metrics)


def test_verdicts_held_longer_than_max_age_are_dropped_and_never_reach_the_host(
        mosquitto_broker, tmp_path: Path, cleanup: list[object], caplog) -> None:  # type: ignore[no-untyped-def]
    # sparkplug.max_age_hours was documented ("held verdicts older than this are dropped") but never applied:
    # the node never expired its outbox, so an absent host meant verdicts kept for ever (up to max_entries)
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, "G-age", "scada").start()
    cleanup.append(host)
    host.clear_state()
    host.set_state(False)
    mqtt_cfg = MqttConfig(host=mosquitto_broker.host, port=mosquitto_broker.port, reconnect_max_delay=1.0)
    node = SparkplugEdgeNode(NodeIds("G-age", "node1", "station", "scada"), mqtt_cfg, "spb", "r1",
                             Spool(tmp_path / "age.sqlite", max_age_s=1.5),
                             client_id=f"ei-test-age-{time.monotonic_ns()}", bd_seq_file=tmp_path / "age.bdseq")
    cleanup.append(node)
    node.start()
    for seq in range(5):
        node.submit("r1", seq, verdict(seq), False)
    assert node.spool.depth == 5
    assert host.wait_for(lambda: node.spool.depth == 0, 20), node.spool.depth
    assert node.spool.stats().dropped_age == 5
    logged = re.findall(r"dropped (\d+) held verdicts older than sparkplug.max_age_hours", caplog.text)
    assert sum(map(int, logged)) == 5, caplog.text[-2000:]
    for seq in range(5, 8):  # fresh ones still go out once the host is back
        node.submit("r1", seq, verdict(seq), False)
    host.set_state(True)
    assert host.wait_for(lambda: len(verdict_seqs(host.messages)) >= 3, 30), host.messages
    time.sleep(1.0)
    assert verdict_seqs(host.of("DDATA")) == [5, 6, 7]
