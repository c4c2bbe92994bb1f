"""MqttPublisher against a real Mosquitto broker and a real subscriber."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from edge_inspector.broker import free_port
from edge_inspector.config.models import MqttConfig
from edge_inspector.publish import MqttConnectError, MqttPublisher, topics, verdict_payload
from edge_inspector.types import Box, Inspection, Verdict

pytestmark = pytest.mark.integration

CYCLE = (Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.FAULT)


def inspection(seq: int, verdict: Verdict | None = None) -> Inspection:
    verdict = verdict or CYCLE[seq % len(CYCLE)]
    now = time.time()
    return Inspection(
        seq=seq, source_index=seq, name=f"frame_{seq:06d}", captured_at=now - 0.02, decided_at=now,
        verdict=verdict, score={Verdict.PASS: 0.25, Verdict.FAIL: 0.75}.get(verdict),
        threshold=0.5, boxes=(Box(3, 4, 5, 6, 20, 0.9),) if verdict is Verdict.FAIL else (),
        reason="test", latency_ms=20.0, model_id="test-model",
    )


def config(broker: Any, **kw: Any) -> MqttConfig:
    base: dict[str, Any] = {"host": broker.host, "port": broker.port, "topic_prefix": "ei-it",
                            "connect_timeout": 5.0, "publish_timeout": 2.0}
    return MqttConfig(**{**base, **kw})


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def is_status(state: str) -> Any:
    return lambda topic, payload: topic.endswith("/status") and payload["state"] == state


def test_verdicts_in_seq_order_and_rejects_only_fail_and_fault(mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    t = topics("ei-it", "order")
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/order/+")
    pub = MqttPublisher(config(mosquitto_broker), "order")
    pub.start()
    sent = [inspection(seq) for seq in range(12)]
    try:
        assert all(pub.publish_inspection(i) for i in sent)
        verdicts = sub.wait_for(12, 5.0, where=lambda topic, p: topic == t.verdict)
        sub.wait_for(6, 5.0, where=lambda topic, p: topic == t.reject)
    finally:
        pub.stop()
    rejects = [p for topic, p in sub.messages if topic == t.reject]
    assert [p["seq"] for _, p in verdicts] == list(range(12)), "exactly one verdict per frame, in order"
    assert [p["seq"] for p in rejects] == [i.seq for i in sent if i.verdict in (Verdict.FAIL, Verdict.FAULT)]
    assert {p["verdict"] for p in rejects} == {"FAIL", "FAULT"}
    assert verdicts[1][1] == verdict_payload(sent[1], "order"), "the wire carries the contract payload as is"
    stats = pub.stats()
    assert (stats.published, stats.acknowledged, stats.unconfirmed, stats.pending) == (12, 12, 0, 0)
    assert not stats.connected, "stop() disconnects"


def test_status_is_retained_online_then_offline_after_stop(mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    pub = MqttPublisher(config(mosquitto_broker), "status")
    pub.start()
    assert pub.stats().connected
    late = mqtt_subscriber(mosquitto_broker, pub.topics.status)
    online = late.wait_for(1, 5.0)
    assert online and online[0][1]["state"] == "online" and late.retained[0], "a late subscriber sees retained online"
    assert online[0][1]["schema"] == "edge-inspector/status" and online[0][1]["station"] == "status"
    pub.stop()
    offline = late.wait_for(1, 5.0, where=is_status("offline"))
    assert offline and offline[0][1]["clean"] is True
    later = mqtt_subscriber(mosquitto_broker, pub.topics.status)
    retained = later.wait_for(1, 5.0)
    assert retained[0][1]["state"] == "offline" and later.retained[0], "offline stays retained after shutdown"


def test_last_will_publishes_offline_on_unclean_disconnect_then_reconnects(mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    pub = MqttPublisher(config(mosquitto_broker), "will")
    sub = mqtt_subscriber(mosquitto_broker, "ei-it/will/status")
    pub.start()
    try:
        assert sub.wait_for(1, 5.0, where=is_status("online"))
        sock = pub.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the connection dies without DISCONNECT, as when the process is killed
        will = sub.wait_for(1, 5.0, where=is_status("offline"))
        assert will and will[0][1]["clean"] is False, "the broker published the last will"
        assert sub.wait_for(2, 10.0, where=is_status("online")), "paho reconnects and announces online again"
        assert wait_until(lambda: pub.stats().connected, 5.0)
        assert pub.stats().reconnects == 1
        assert pub.publish_inspection(inspection(0)), "publishing works again after the reconnect"
    finally:
        pub.stop()


def test_connect_to_closed_port_raises_naming_host_and_port() -> None:
    port = free_port()
    pub = MqttPublisher(MqttConfig(host="127.0.0.1", port=port, connect_timeout=1.0), "nobroker")
    t0 = time.monotonic()
    try:
        with pytest.raises(MqttConnectError, match=f"127.0.0.1:{port}.*refused"):
            pub.start()
    finally:
        pub.stop()
    assert time.monotonic() - t0 < 4.0
    assert not pub.stats().connected


def test_broker_outage_verdicts_are_kept_in_memory_and_delivered_after_reconnect(fresh_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    # The PLC side uses a persistent session (clean_session=False, QoS 1) as docs/mqtt-contract.md advises,
    # so the broker queues for it whatever arrives while it is itself reconnecting.
    plc = mqtt_subscriber(fresh_broker, "ei-it/outage/verdict", client_id="plc-outage", clean_session=False)
    pub = MqttPublisher(config(fresh_broker, publish_timeout=1.0), "outage")
    pub.start()
    try:
        assert pub.publish_inspection(inspection(0)) and pub.publish_inspection(inspection(1))
        fresh_broker.stop()
        assert wait_until(lambda: not pub.stats().connected, 5.0)
        t0 = time.monotonic()
        results = [pub.publish_inspection(inspection(seq)) for seq in (2, 3, 4)]  # must not raise
        assert results == [False, False, False]
        assert time.monotonic() - t0 < 1.0, "no waiting for acknowledgements while disconnected"
        assert pub.stats().unconfirmed == 3 and pub.stats().pending == 3
        fresh_broker.start()
        assert plc.wait_for(1, 30.0, where=lambda t, p: p["seq"] == 4), "the last queued verdict arrives"
        messages = plc.wait_for(5, 1.0)
        seqs = list(dict.fromkeys(p["seq"] for _, p in messages))  # dedupe by seq (at-least-once)
        assert seqs == [0, 1, 2, 3, 4], "queued verdicts are redelivered, in order, after the reconnect"
        assert wait_until(lambda: pub.stats().pending == 0, 10.0)
        stats = pub.stats()
        assert (stats.published, stats.acknowledged, stats.unconfirmed) == (5, 5, 3)
        assert stats.reconnects >= 1 and stats.connected
    finally:
        pub.stop()
