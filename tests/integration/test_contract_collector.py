"""The shared MQTT collector (tests/conftest.py Subscriber) checks every message the daemon publishes against
its contract schema, so no integration test can receive a malformed verdict, status or stats and pass."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.integration


def publish(broker: Any, topic: str, payload: Any) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="ei-test-collector-pub")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_collector_flags_a_malformed_daemon_message_and_leaves_inputs_alone(
        mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    sub = mqtt_subscriber(mosquitto_broker, "ei-collect/s1/#")
    publish(mosquitto_broker, "ei-collect/s1/verdict", {"seq": 1, "verdict": "MAYBE"})
    publish(mosquitto_broker, "ei-collect/s1/command", {"not": "a request"})  # an input: a fuzz test sends these
    publish(mosquitto_broker, "ei-collect/s1/stats", {"schema": "nonsense"})
    assert len(sub.wait_for(3, 10.0)) == 3
    assert len(sub.invalid) == 2, sub.invalid
    assert "ei-collect/s1/verdict" in sub.invalid[0] and "verdict.schema.json" in sub.invalid[0]
    assert "stats.schema.json" in sub.invalid[1]
    with pytest.raises(AssertionError, match="break the contract"):
        sub.assert_valid()
    sub.invalid.clear()  # the fixture would otherwise fail this test at teardown, as it must for the others


def test_the_products_own_messages_pass_the_collector(mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    """The check is not so strict that the daemon's real payloads fail it (then every test would)."""
    import time

    from edge_inspector.publish.contract import status_payload, verdict_payload
    from edge_inspector.types import Inspection, Verdict

    now = time.time()
    inspection = Inspection(seq=0, source_index=0, name="frame_000000", captured_at=now - 0.02, decided_at=now,
                            verdict=Verdict.PASS, score=0.25, threshold=0.5, boxes=(), reason="test",
                            latency_ms=20.0, model_id="test-model")
    sub = mqtt_subscriber(mosquitto_broker, "ei-collect/s2/#")
    publish(mosquitto_broker, "ei-collect/s2/verdict", verdict_payload(inspection, "s2", "run-1"))
    publish(mosquitto_broker, "ei-collect/s2/status", status_payload("online", "s2", "run-1"))
    assert len(sub.wait_for(2, 10.0)) == 2
    assert sub.invalid == []
    sub.assert_valid()
