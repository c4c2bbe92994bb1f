"""The spool-backed sender against a real Mosquitto and real subscribers: order, status, outages, restarts."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validate_message
from helpers.sender_rig import inspection, mqtt_config, sender, submit, wait_until

from edge_inspector.config.models import MqttConfig
from edge_inspector.publish import MqttConnectError, MqttConnection, Spool, verdict_payload
from edge_inspector.publish.broker import free_port
from edge_inspector.types import Verdict

pytestmark = pytest.mark.integration


def is_status(state: str) -> Any:
    return lambda topic, payload: topic.endswith("/status") and payload["state"] == state


def test_verdicts_in_order_rejects_only_fail_and_fault_spool_emptied(
    tmp_path,
    mosquitto_broker,
    mqtt_subscriber,
) -> None:
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/order/+")
    s = sender(tmp_path, mqtt_config(mosquitto_broker), "order", "run-order")
    s.start()
    sent = [inspection(seq) for seq in range(12)]
    try:
        assert all(submit(s, "order", i) for i in sent)
        verdicts = sub.wait_for(12, 5.0, where=lambda topic, p: topic.endswith("/verdict"))
        sub.wait_for(6, 5.0, where=lambda topic, p: topic.endswith("/reject"))
        assert wait_until(lambda: s.stats().depth == 0, 5.0), "acknowledged verdicts leave the spool"
    finally:
        s.stop(grace=2.0)
    rejects = [p for topic, p in sub.messages if topic.endswith("/reject")]
    for topic, payload in sub.messages:
        validate_message(topic, payload)
    assert [p["seq"] for _, p in verdicts] == list(range(12)), "exactly one verdict per frame, in order"
    assert [p["seq"] for p in rejects] == [i.seq for i in sent if i.verdict in (Verdict.FAIL, Verdict.FAULT)]
    assert verdicts[1][1] == verdict_payload(sent[1], "order", "run-order"), "the wire carries the contract payload"
    assert not any(p["replayed"] for _, p in verdicts), "nothing was late"
    stats = s.stats()
    assert (stats.published, stats.acknowledged, stats.inflight, stats.replayed) == (12, 12, 0, 0)
    assert not stats.connected, "stop() disconnects"


def test_status_is_retained_online_with_extras_then_clean_offline(tmp_path, mosquitto_broker, mqtt_subscriber) -> None:
    s = sender(tmp_path, mqtt_config(mosquitto_broker), "status", "run-status")
    s.start()
    s.conn.set_status(model_id="m1", capture={"state": "running", "since": "2026-01-01T00:00:00.000Z", "detail": ""})
    # The status is published once the connection is up: a subscriber that comes before it reaches the broker
    # gets it live, not retained (one CI run did). Late means after the broker holds it: a first one waits.
    first = mqtt_subscriber(mosquitto_broker, s.conn.topics.status)
    assert first.wait_for(1, 10.0, where=lambda t, p: p.get("capture", {}).get("state") == "running")
    late = mqtt_subscriber(mosquitto_broker, s.conn.topics.status)
    online = late.wait_for(1, 5.0, where=lambda t, p: p.get("capture", {}).get("state") == "running")
    assert online and late.retained[-1], "a late subscriber sees the retained online status with the capture state"
    assert online[0][1]["run_id"] == "run-status" and online[0][1]["model_id"] == "m1"
    s.stop(grace=1.0)
    offline = late.wait_for(1, 5.0, where=is_status("offline"))
    assert offline and offline[0][1]["clean"] is True
    for topic, payload in late.messages:
        validate_message(topic, payload)


def test_last_will_on_unclean_disconnect_then_reconnect_and_publish(
    tmp_path,
    mosquitto_broker,
    mqtt_subscriber,
) -> None:
    s = sender(tmp_path, mqtt_config(mosquitto_broker), "will", "run-will")
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/will/#")
    s.start()
    try:
        assert sub.wait_for(1, 5.0, where=is_status("online"))
        sock = s.conn.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the connection dies without DISCONNECT, as when the process is killed
        will = sub.wait_for(1, 5.0, where=is_status("offline"))
        assert will and will[0][1]["clean"] is False and will[0][1]["run_id"] == "run-will"
        assert sub.wait_for(2, 10.0, where=is_status("online")), "reconnects and announces online again"
        submit(s, "will", inspection(0))
        assert sub.wait_for(1, 5.0, where=lambda t, p: t.endswith("/verdict"))
        assert s.stats().reconnects == 1
    finally:
        s.stop(grace=1.0)


def test_unreachable_broker_is_not_fatal_and_submit_never_waits(tmp_path: Path) -> None:
    port = free_port()
    conn = MqttConnection(MqttConfig(host="127.0.0.1", port=port, connect_timeout=1.0), "nobroker", "r")
    with pytest.raises(MqttConnectError, match=f"127.0.0.1:{port}.*refused"):
        conn.start()
    conn.stop()
    s = sender(tmp_path, MqttConfig(host="127.0.0.1", port=port, connect_timeout=0.5), "nobroker", "run-x")
    s.start()  # logs the error, keeps retrying in the background
    t0 = time.monotonic()
    for seq in range(50):
        submit(s, "nobroker", inspection(seq))
    assert time.monotonic() - t0 < 2.0, "the inspection side never waits for the broker"
    s.stop(grace=0.5)
    assert Spool(tmp_path / "nobroker.sqlite").depth == 50, "undelivered verdicts stay on disk for the next run"


def test_a_hung_broker_never_blocks_the_inspection_side(
    tmp_path: Path, fresh_broker: Any, mqtt_subscriber: Any,
) -> None:
    """SIGSTOPped broker: TCP stays up, no PUBACK comes. v1 waited publish_timeout (5 s) per verdict here."""
    sub = mqtt_subscriber(fresh_broker, "ei-it/hung/verdict")
    s = sender(tmp_path, mqtt_config(fresh_broker, publish_timeout=5.0), "hung", "run-hung")
    s.start()
    try:
        fresh_broker.pause()
        t0 = time.monotonic()
        for seq in range(50):
            submit(s, "hung", inspection(seq))
        took = time.monotonic() - t0
        assert took < 2.0, f"50 verdicts took {took:.1f} s to hand over while the broker hung"
        assert s.stats().inflight == s.cfg.max_inflight or s.stats().depth == 50
        fresh_broker.resume()
        assert sub.wait_for(50, 20.0), "everything arrives once the broker answers again"
    finally:
        fresh_broker.resume()
        s.stop(grace=2.0)
    seqs = list(dict.fromkeys(p["seq"] for _, p in sub.messages))
    assert seqs == list(range(50))


def test_outage_backlog_is_replayed_in_order_with_replayed_flag(tmp_path, fresh_broker, mqtt_subscriber) -> None:
    plc = mqtt_subscriber(fresh_broker, "ei-it/outage/verdict", client_id="plc-outage", clean_session=False)
    s = sender(tmp_path, mqtt_config(fresh_broker), "outage", "run-outage")
    s.start()
    try:
        submit(s, "outage", inspection(0))
        submit(s, "outage", inspection(1))
        assert plc.wait_for(2, 5.0)
        time.sleep(1.5)  # the broker autosaves every second: the PLC's persistent session is on its disk
        fresh_broker.kill()
        assert wait_until(lambda: not s.stats().connected, 5.0)
        for seq in range(2, 40):
            submit(s, "outage", inspection(seq))
        assert s.stats().depth >= 38
        fresh_broker.start()
        assert plc.wait_for(1, 20.0, where=lambda t, p: p["seq"] == 39), "the backlog arrives after the reconnect"
        assert wait_until(lambda: s.stats().depth == 0, 10.0)
    finally:
        s.stop(grace=2.0)
    first: dict[int, dict[str, Any]] = {}
    for topic, p in plc.messages:
        validate_message(topic, p)
        first.setdefault(p["seq"], p)
    assert list(first) == list(range(40)), "every verdict, in order, after de-duplication"
    assert all(first[seq]["replayed"] for seq in range(2, 40)), "verdicts sent after the outage say so"
    assert not first[0]["replayed"] and not first[1]["replayed"]


def test_a_new_run_replays_what_the_previous_run_left_in_the_spool(tmp_path, mosquitto_broker, mqtt_subscriber) -> None:
    dead = MqttConfig(host="127.0.0.1", port=free_port(), connect_timeout=0.3)
    first = sender(tmp_path, dead, "restart", "run-1")
    first.start()
    for seq in range(5):
        submit(first, "restart", inspection(seq))
    first.stop(grace=0.2)
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/restart/verdict")
    second = sender(tmp_path, mqtt_config(mosquitto_broker), "restart", "run-2")
    second.start()
    try:
        for seq in range(3):
            submit(second, "restart", inspection(seq))
        got = sub.wait_for(8, 10.0)
    finally:
        second.stop(grace=2.0)
    keys = [(p["run_id"], p["seq"], p["replayed"]) for _, p in got]
    assert keys == [("run-1", s, True) for s in range(5)] + [("run-2", s, False) for s in range(3)]


def test_spool_failure_falls_back_to_memory_and_still_delivers(tmp_path, mosquitto_broker, mqtt_subscriber) -> None:
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/nospool/verdict")
    s = sender(tmp_path, mqtt_config(mosquitto_broker), "nospool", "run-ns")
    s.start()
    try:
        with s.spool._lock:
            s.spool._db.close()  # the database is gone under the sender, as on an I/O error
        assert submit(s, "nospool", inspection(0)) is False
        assert [p["seq"] for _, p in sub.wait_for(1, 5.0)] == [0]
        assert s.stats().write_errors == 1
    finally:
        s.stop(grace=1.0)
