"""MQTT publisher for verdicts: retained availability with a last will, QoS 1, acknowledgement tracking.

Delivery is at-least-once while the process lives: paho keeps unacknowledged and not-yet-sent
messages in memory (unbounded queue) and resends them after it reconnects. A process restart
loses that queue (an on-disk spool is a separate component).
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ..config.models import MqttConfig
from ..types import Inspection
from .contract import OFFLINE, ONLINE, REJECT_VERDICTS, encode, status_payload, topics, verdict_payload

log = logging.getLogger(__name__)


class MqttConnectError(RuntimeError):
    """The broker could not be reached or refused the connection within the connect timeout."""


@dataclass
class PublisherStats:
    """Counters of one publisher. acknowledged includes verdicts acknowledged late (after a reconnect)."""

    published: int = 0  # verdict messages handed to the client
    acknowledged: int = 0  # verdict messages the broker acknowledged (PUBACK), at any time
    unconfirmed: int = 0  # verdict messages not acknowledged within publish_timeout
    pending: int = 0  # verdict messages still waiting for an acknowledgement (kept in memory)
    reconnects: int = 0  # successful connections after the first one
    connected: bool = False


class MqttPublisher:
    """Publishes each Inspection on the station's verdict topic (and reject topic for FAIL/FAULT)."""

    def __init__(self, cfg: MqttConfig, station_id: str) -> None:
        self.cfg = cfg
        self.station_id = station_id
        self.topics = topics(cfg.topic_prefix, station_id)
        self.client_id = cfg.client_id or f"edge-inspector-{station_id}"
        self._stats = PublisherStats()
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}  # mid -> seq of unacknowledged verdict messages
        self._acks: collections.deque[int] = collections.deque()  # filled by the network thread
        self._connack = threading.Event()
        self._connects = 0
        self._last_reason = ""
        self._started = False
        # A persistent session (clean_session=False) with a stable client id: QoS 1 messages in flight
        # at a disconnect are legitimately resent (DUP) on the same session after reconnecting.
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False
        )
        self.client.max_queued_messages_set(0)  # unlimited: keep everything in memory during outages
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if cfg.username is not None:
            self.client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            self.client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file is not None else None)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    # network-thread callbacks: keep them short and never take self._lock while paho holds its mutexes
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", reason != 0):
            self._last_reason = f"broker refused the connection: {reason}"
            log.error("MQTT %s:%d %s", self.cfg.host, self.cfg.port, self._last_reason)
            return
        self._connects += 1
        self._stats.connected = True
        if self._connects > 1:
            self._stats.reconnects += 1
            log.warning("MQTT reconnected to %s:%d", self.cfg.host, self.cfg.port)
        client.publish(self.topics.status, encode(status_payload(ONLINE, self.station_id)), qos=1, retain=True)
        self._connack.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._stats.connected
        self._stats.connected = False
        if was and self._started:
            log.warning("MQTT connection to %s:%d lost (%s); retrying", self.cfg.host, self.cfg.port, reason)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acks.append(mid)

    def start(self) -> None:
        """Connect (last will: retained offline status) and wait up to connect_timeout for a good CONNACK.

        Raises MqttConnectError naming host:port and the reason otherwise. The network loop keeps
        retrying in the background after the error; call stop() to give up.
        """
        will = encode(status_payload(OFFLINE, self.station_id, {"clean": False}))
        self.client.will_set(self.topics.status, will, qos=1, retain=True)
        self._started = True
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()
        if self._connack.wait(self.cfg.connect_timeout):
            log.info("MQTT connected to %s:%d as %s", self.cfg.host, self.cfg.port, self.client_id)
            return
        raise MqttConnectError(
            f"cannot connect to MQTT broker {self.cfg.host}:{self.cfg.port} within "
            f"{self.cfg.connect_timeout:g} s: {self._last_reason or self._probe()}"
        )

    def _probe(self) -> str:
        try:
            with socket.create_connection((self.cfg.host, self.cfg.port), timeout=1.0):
                return "TCP connects but no CONNACK arrived"
        except OSError as exc:
            return exc.strerror or str(exc)

    def publish_inspection(self, inspection: Inspection) -> bool:
        """Publish one verdict (plus reject for FAIL/FAULT); True when the broker acknowledged the verdict.

        Never raises for broker trouble: an unacknowledged verdict is counted as unconfirmed and stays
        queued in memory for redelivery after a reconnect. While disconnected it does not wait.
        """
        payload = encode(verdict_payload(inspection, self.station_id))
        self._drain_acks()  # also keeps the ack deque short when stats() is rarely called
        with self._lock:
            info = self.client.publish(self.topics.verdict, payload, qos=self.cfg.qos)
            self._stats.published += 1
            if self.cfg.qos > 0:
                self._pending[info.mid] = inspection.seq
        if inspection.verdict in REJECT_VERDICTS:
            self.client.publish(self.topics.reject, payload, qos=self.cfg.qos)
        ok = False
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            try:
                info.wait_for_publish(timeout=self.cfg.publish_timeout)
                ok = info.is_published()
            except (RuntimeError, ValueError) as exc:
                log.debug("wait_for_publish seq %d: %s", inspection.seq, exc)
        if not ok:
            with self._lock:
                self._stats.unconfirmed += 1
            log.warning(
                "verdict seq %d not acknowledged by %s:%d (%s); kept in memory for redelivery",
                inspection.seq, self.cfg.host, self.cfg.port,
                "not connected" if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS else "timeout",
            )
        return ok

    def _drain_acks(self) -> None:
        with self._lock:
            while self._acks:
                if self._pending.pop(self._acks.popleft(), None) is not None:
                    self._stats.acknowledged += 1

    def stats(self) -> PublisherStats:
        """A snapshot of the counters."""
        self._drain_acks()
        with self._lock:
            snap = PublisherStats(**self._stats.__dict__)
            snap.pending = len(self._pending)
        return snap

    def stop(self, timeout: float | None = None) -> None:
        """Publish the retained offline status (when connected), wait for it, disconnect, stop the loop."""
        if not self._started:
            return
        wait = self.cfg.publish_timeout if timeout is None else timeout
        if self._stats.connected:
            info = self.client.publish(
                self.topics.status, encode(status_payload(OFFLINE, self.station_id, {"clean": True})),
                qos=1, retain=True,
            )
            try:
                info.wait_for_publish(timeout=wait)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not published: %s", exc)
        self._started = False
        self.client.disconnect()
        self.client.loop_stop()
        left = self.stats()
        if left.pending:
            log.error("MQTT stopped with %d unacknowledged verdicts (lost)", left.pending)
        self._stats.connected = False
