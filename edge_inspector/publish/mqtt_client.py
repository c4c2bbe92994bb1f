"""The broker connection: retained status with a last will, bounded reconnect backoff, acknowledgement callbacks.

This module only talks to the broker. What to send and when to call a verdict delivered is the
sender's business (publish/sender.py), which publishes from the durable spool; nothing here blocks
the inspection thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ..config.models import MqttConfig
from ..errors import UserError
from .contract import OFFLINE, ONLINE, encode, status_payload, topics
from .log_throttle import KindThrottles
from .mqtt_auth import apply_auth

log = logging.getLogger(__name__)
DROP_WARN_S = 60.0  # one warning per kind of dropped message at most this often (a flood costs no log storm)


class MqttConnectError(UserError, RuntimeError):
    """The broker could not be reached or refused the connection within the connect timeout."""


class MqttConnection:
    """One paho client for a station. Callbacks run on paho's network thread and must stay short.

    on_ack(mid) is called for every acknowledged message (PUBACK for QoS 1); on_connect() after every
    successful (re)connect, once the retained online status has been queued. subscribe() adds a topic
    that is (re)subscribed on every connect; its handler gets each message's payload on the network thread,
    except messages over mqtt.max_message_bytes and retained ones, which are dropped and counted
    (`dropped_oversize`, `dropped_retained`) with a warning at most every DROP_WARN_S seconds per kind.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        station_id: str,
        run_id: str,
        *,
        on_ack: Callable[[int], None] | None = None,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.cfg, self.station_id, self.run_id = cfg, station_id, run_id
        self.topics = topics(cfg.topic_prefix, station_id)
        self.client_id = cfg.client_id or f"edge-inspector-{station_id}"
        self._on_ack, self._on_connect_cb = on_ack, on_connect
        self._connack = threading.Event()
        self._status_lock = threading.Lock()
        self._status_extra: dict[str, Any] = {}
        self._handlers: dict[str, tuple[int, Callable[[bytes], None]]] = {}  # topic -> (qos, handler)
        self.connected = False
        self.connected_at = float("inf")  # wall time of the current connection's CONNACK
        self.connects = 0
        self.last_error = ""
        self._started = False
        self.dropped_oversize = 0  # subscribed messages over cfg.max_message_bytes, dropped unread
        self.dropped_retained = 0  # retained messages on subscribed topics (a request or trigger from the past)
        self._drop_warnings = KindThrottles(DROP_WARN_S)
        # A persistent session with a stable client id: QoS 1 messages in flight at a disconnect are
        # resent by paho (DUP flag) on reconnect; everything not yet sent waits in the spool, not here.
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(max(1, cfg.max_inflight) + 8)  # + status/stats headroom
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, round(cfg.reconnect_max_delay)))
        apply_auth(self.client, username=cfg.username, password=cfg.password, tls=cfg.tls, ca_file=cfg.ca_file,
                   cert_file=cfg.cert_file, key_file=cfg.key_file)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_publish = self._handle_publish
        self.client.on_message = self._handle_message

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", reason != 0):
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT %s:%d %s", self.cfg.host, self.cfg.port, self.last_error)
            return
        self.connects += 1
        self.connected_at = time.time()
        self.connected = True
        if self.connects > 1:
            log.warning("MQTT reconnected to %s:%d", self.cfg.host, self.cfg.port)
        self._publish_status()
        for topic, (qos, _) in list(self._handlers.items()):
            client.subscribe(topic, qos=qos)
        self._connack.set()
        if self._on_connect_cb is not None:
            self._on_connect_cb()

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was, self.connected = self.connected, False
        if was and self._started:
            log.warning("MQTT connection to %s:%d lost (%s); retrying", self.cfg.host, self.cfg.port, reason)

    def _handle_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if self._on_ack is not None:
            self._on_ack(mid)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        entry = self._handlers.get(msg.topic)
        if entry is None:  # e.g. a subscription a persistent session kept from an earlier run
            return
        size, limit = len(msg.payload), self.cfg.max_message_bytes
        if size > limit:  # before any decoding: one message must never cost the line more than its copy
            self.dropped_oversize += 1
            self._warn_dropped("oversize", self.dropped_oversize, msg.topic,
                               f"{size} bytes, more than mqtt.max_message_bytes {limit}")
            return
        if msg.retain:  # delivered because it was kept at the broker, not because it was sent now
            self.dropped_retained += 1
            self._warn_dropped("retained", self.dropped_retained, msg.topic,
                               "a retained message (requests and triggers are never taken from the past; clear it "
                               "with an empty retained publish)")
            return
        try:
            entry[1](bytes(msg.payload))
        except Exception:  # noqa: BLE001 - a handler's bug must not kill paho's network thread
            log.exception("MQTT handler for %s failed; message dropped", msg.topic)

    def _warn_dropped(self, kind: str, count: int, topic: str, why: str) -> None:
        suppressed = self._drop_warnings.hit(kind)
        if suppressed is None:
            return
        more = f", {suppressed} more since the last warning" if suppressed else ""
        log.warning("MQTT message on %s dropped: %s (%d %s dropped in all%s; next warning in %.0f s at the earliest)",
                    topic, why, count, kind, more, DROP_WARN_S)

    def subscribe(self, topic: str, handler: Callable[[bytes], None], qos: int = 1) -> None:
        """Receive `topic` from now on, across reconnects: handler(payload) runs on the network thread for each
        message that is at most mqtt.max_message_bytes long and not retained (the others are dropped, counted)."""
        self._handlers[topic] = (qos, handler)
        if self.connected:
            self.client.subscribe(topic, qos=qos)

    def start(self) -> None:
        """Connect (last will: retained offline status) and wait up to connect_timeout for a good CONNACK.

        Raises MqttConnectError naming host:port and the reason otherwise; paho keeps retrying in the
        background after the error, so a broker that comes up later is still used. stop() gives up.
        """
        will = encode(status_payload(OFFLINE, self.station_id, self.run_id, {"clean": False}))
        self.client.will_set(self.topics.status, will, qos=1, retain=True)
        self._started = True
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()
        if self._connack.wait(self.cfg.connect_timeout):
            log.info("MQTT connected to %s:%d as %s", self.cfg.host, self.cfg.port, self.client_id)
            return
        raise MqttConnectError(
            f"cannot connect to MQTT broker {self.cfg.host}:{self.cfg.port} within "
            f"{self.cfg.connect_timeout:g} s: {self.last_error or self._probe()}"
        )

    def _probe(self) -> str:
        try:
            with socket.create_connection((self.cfg.host, self.cfg.port), timeout=1.0):
                return "TCP connects but no CONNACK arrived"
        except OSError as exc:
            return exc.strerror or str(exc)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int | None:
        """Hand one message to paho; returns its mid, or None when paho refused it (then nothing was queued)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("MQTT publish on %s refused: %s", topic, mqtt.error_string(info.rc))
            return None
        return int(info.mid)

    def set_status(self, **extra: Any) -> None:
        """Merge keys into the retained online status and republish it now (when connected) and on every reconnect."""
        with self._status_lock:
            self._status_extra.update(extra)
        if self.connected:
            self._publish_status()

    def _publish_status(self) -> None:
        with self._status_lock:
            payload = encode(status_payload(ONLINE, self.station_id, self.run_id, dict(self._status_extra)))
        self.client.publish(self.topics.status, payload, qos=1, retain=True)

    def stop(self, timeout: float | None = None) -> None:
        """Publish the retained clean offline status (when connected), wait for it, disconnect, stop the loop."""
        if not self._started:
            return
        wait = self.cfg.publish_timeout if timeout is None else timeout
        if self.connected:
            with self._status_lock:
                extra = {k: v for k, v in self._status_extra.items() if k != "capture"}
            extra["clean"] = True
            info = self.client.publish(
                self.topics.status, encode(status_payload(OFFLINE, self.station_id, self.run_id, extra)),
                qos=1, retain=True,
            )
            try:
                info.wait_for_publish(timeout=max(0.1, wait))
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not published: %s", exc)
        self._started = False
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False
