"""A verdict subscriber that prints each verdict as a PLC would receive it (`edge-inspector watch`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class VerdictSubscriber:
    """Subscribes to `{prefix}/{station}/verdict` (or any filter) and collects decoded payloads."""

    def __init__(
        self,
        host: str,
        port: int,
        topic: str,
        on_message: Callable[[str, dict[str, object]], None] | None = None,
        setup: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.topic = topic
        self.messages: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self._callback = on_message
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-watch-{time.monotonic_ns()}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message
        self.host, self.port = host, port
        self.refused: str | None = None
        if setup is not None:
            setup(self._client)  # account and TLS (mqtt_auth)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            self.refused = str(rc)
            self._subscribed.set()
            return
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = {"raw": msg.payload.decode("utf-8", errors="replace")}
        with self._lock:
            self.messages.append((msg.topic, payload))
            self._lock.notify_all()
        if self._callback is not None:
            self._callback(msg.topic, payload)

    def start(self, timeout: float = 10.0) -> "VerdictSubscriber":
        """Connect and wait until the subscription is acknowledged; MqttConnectError (one line) when the broker
        cannot be reached or refuses the account."""
        from .mqtt_client import MqttConnectError

        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise MqttConnectError(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}") from None
        self._client.loop_start()
        if not self._subscribed.wait(timeout) or self.refused is not None:
            self.stop()
            why = f"refused the connection: {self.refused}" if self.refused else f"no SUBACK within {timeout:.0f} s"
            raise MqttConnectError(f"MQTT broker {self.host}:{self.port} {why}")
        return self

    def wait_for(self, n: int, timeout: float) -> list[tuple[str, dict[str, object]]]:
        """Block until at least n messages arrived or timeout; returns what arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < n and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.messages)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def format_verdict(payload: dict[str, object]) -> str:
    """One line per verdict, the way a line operator reads it."""
    boxes = payload.get("boxes") or []
    score = payload.get("score")
    score_txt = f"{score:.3f}" if isinstance(score, float) else "  -  "
    return (
        f"[PLC] seq={payload.get('seq'):>4} {payload.get('verdict'):<5} score={score_txt}"
        f" thr={payload.get('threshold', 0):.3f} boxes={len(boxes) if isinstance(boxes, list) else 0}"
        f" latency={payload.get('latency_ms', 0):.0f}ms  {payload.get('reason', '')}"
        + ("  [replayed: sent late from the spool]" if payload.get("replayed") else "")
    )
