"""The connection's door on subscribed topics: a message over mqtt.max_message_bytes or a retained one never
reaches its handler; both are counted and warned about at most once a minute per kind. (Paho's own message
objects are handed to the connection's callback; tests/integration/test_command_doors.py does it through a
real broker.)"""

from __future__ import annotations

import logging
import re
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.config import MqttConfig
from edge_inspector.publish.mqtt_client import MqttConnection


def message(topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload, msg.retain = payload, retain
    return msg


def connection(got: list[bytes], limit: int = 100) -> MqttConnection:
    conn = MqttConnection(MqttConfig(max_message_bytes=limit), "st1", "run-1")
    conn.subscribe("ei/st1/command", got.append)
    return conn


def test_oversized_and_retained_messages_are_dropped_counted_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    got: list[bytes] = []
    conn = connection(got)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            conn._handle_message(conn.client, None, message("ei/st1/command", b"x" * 101))
            conn._handle_message(conn.client, None, message("ei/st1/command", b"{}", retain=True))
        conn._handle_message(conn.client, None, message("ei/st1/command", b"y" * 100))
        conn._handle_message(conn.client, None, message("ei/other", b"z"))  # not subscribed: ignored
    assert got == [b"y" * 100]
    assert (conn.dropped_oversize, conn.dropped_retained) == (3, 3)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings  # one per kind, not one per message
    assert "101 bytes, more than mqtt.max_message_bytes 100" in warnings[0] and "ei/st1/command" in warnings[0]
    assert "a retained message" in warnings[1]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.booleans(), st.integers(min_value=1, max_value=300))
def test_a_handler_sees_exactly_the_small_live_messages(payload: bytes, retain: bool, limit: int) -> None:
    got: list[bytes] = []
    conn = connection(got, limit)
    conn._handle_message(conn.client, None, message("ei/st1/command", payload, retain))
    assert got == ([payload] if len(payload) <= limit and not retain else [])
    assert conn.dropped_oversize + conn.dropped_retained + len(got) == 1


@pytest.mark.parametrize(("mqtt_section", "error"), [
    ({"max_message_bytes": 0}, "mqtt.max_message_bytes: expected 1..268435455 (bytes), got 0"),
    ({"max_message_bytes": 2**31}, "mqtt.max_message_bytes: expected 1..268435455 (bytes), got 2147483648"),
    ({"command_max_age_s": -1}, "mqtt.command_max_age_s: expected a number of seconds >= 0 (0 = off), got -1.0"),
    ({"command_max_age_s": float("inf")}, "mqtt.command_max_age_s: expected a number of seconds >= 0"),
    ({}, None),
])
def test_the_door_limits_are_validated_config_fields(tmp_path: Any, mqtt_section: dict[str, Any],
                                                      error: str | None) -> None:
    import yaml

    from edge_inspector.config import ConfigError, load_config

    (tmp_path / "model").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": {"path": str(tmp_path / "model")}, "source": {"path": "v.avi"},
                                    "mqtt": {"commands": True, **mqtt_section}}))
    if error is None:
        cfg = load_config(path)
        assert (cfg.mqtt.max_message_bytes, cfg.mqtt.command_max_age_s) == (65536, 60.0)
        return
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_config(path)
