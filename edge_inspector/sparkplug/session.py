"""The edge node's MQTT sessions: one paho client per connection, whose last will is the NDEATH of its bdSeq.

Sparkplug 3.0 asks an edge node for a clean session and a new bdSeq per connection, with the NDEATH carrying
that bdSeq as the will (QoS 1, not retained). A paho client resends on reconnect whatever it still holds of
its last connection (unacknowledged and queued messages), even with a clean session; for Sparkplug those
would reach the host before the new NBIRTH, with the dead session's seq. So a client lives for one
connection only (`reconnect_on_failure=False`: paho's thread ends when the connection does) and the next
session is a fresh client, armed with the next bdSeq's will, opened by the sender thread (tick()) after a
short delay; what the old client held dies with it, and the outbox sends those verdicts again after the new
birth. The bdSeq survives restarts in a small file beside the outbox, so a host never sees two sessions of
this node with the same number in a row. Callbacks run on paho's network thread: they only parse bounded
messages and hand events to the sender's queue; nothing here waits on a lock the sender holds while it
publishes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ..config.models import MqttConfig
from ..publish.mqtt_auth import apply_auth
from .inbound import BadMessages, HostTracker, InboundError, parse_ncmd, parse_state
from .node import NodeState

log = logging.getLogger(__name__)
Event = tuple[str, Any]


def read_bd_seq(path: Path) -> int:
    """The last bdSeq used (from the file), or 255 so that the first session is 0."""
    try:
        text = path.read_text(encoding="ascii").strip()[:8]
        value = int(text)
        return value % 256 if value >= 0 else 255
    except (OSError, ValueError):
        return 255


def write_bd_seq(path: Path, value: int) -> None:
    """Remember the bdSeq of the session being opened (atomic replace; a failure is logged, not fatal)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(f"{value}\n", encoding="ascii")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("sparkplug: cannot write bdSeq file %s: %s", path, exc)


class Session:
    """The current client and its callbacks; `post(event)` hands events to the sender thread."""

    def __init__(self, mqtt_cfg: MqttConfig, client_id: str, node: NodeState, bd_seq_file: Path,
                 post: Callable[[Event], None], max_message_bytes: int) -> None:
        self.cfg, self.client_id, self.node, self.bd_seq_file = mqtt_cfg, client_id, node, bd_seq_file
        self._post, self.max_message_bytes = post, max_message_bytes
        self.host = HostTracker()
        self.bad = BadMessages()
        self.connected = False
        self.connects = 0
        self._lock = threading.Lock()  # guards the session bdSeq between paho's thread and the sender's
        self.session_bd_seq = read_bd_seq(bd_seq_file)
        self.client: mqtt.Client | None = None
        self._lost_at: float | None = None  # when the current client's connection ended (None: it is live)
        self._failures = 0  # connections lost or refused since the last accepted one
        self._bd_seq_spent = True  # a broker accepted the current bdSeq's session: the next client takes a new one

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=True, reconnect_on_failure=False)
        client.reconnect_delay_set(min_delay=1, max_delay=1)  # paho's wait before its thread ends on a failure
        apply_auth(client, username=self.cfg.username, password=self.cfg.password, tls=self.cfg.tls,
                   ca_file=self.cfg.ca_file, cert_file=self.cfg.cert_file, key_file=self.cfg.key_file)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _open(self) -> None:
        """A fresh client for the next session, connected in the background: in its will the next bdSeq (kept in
        the file), or the same one again when no broker accepted the last client."""
        client = self._new_client()
        with self._lock:
            if self._bd_seq_spent:
                self.session_bd_seq, self._bd_seq_spent = (self.session_bd_seq + 1) % 256, False
            will = self.node.death(int(time.time() * 1000), self.session_bd_seq)
        write_bd_seq(self.bd_seq_file, self.session_bd_seq)
        client.will_set(self.node.topics.ndeath, will, qos=1, retain=False)
        self.client = client
        client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        client.loop_start()

    def start(self) -> None:
        """Open the first session; a broker that is down is tried again by tick() (a fresh client each time)."""
        self._open()

    def tick(self) -> None:
        """Sender thread, every turn: once a lost connection's delay has passed, open the next session."""
        lost = self._lost_at
        if lost is None or time.monotonic() < lost + self.retry_delay():
            return
        if self.client is not None:
            self.client.loop_stop()  # its thread is ending on its own; what the old client held goes with it
        self._lost_at = None  # before the new client's thread runs: its failure may come at once and set it again
        try:
            self._open()
        except Exception:
            self._lost_at, self._failures = time.monotonic(), self._failures + 1  # tried again later
            raise

    def retry_delay(self) -> float:
        """1 s after a lost connection, doubling while connections keep failing, up to mqtt.reconnect_max_delay."""
        return float(min(max(1.0, self.cfg.reconnect_max_delay), 2.0 ** min(10, max(0, self._failures - 1))))

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if client is not self.client:
            return
        if getattr(reason, "is_failure", reason != 0):
            log.error("sparkplug: broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            return
        self.host.state = None  # a new session waits for the host's STATE again (retained, it comes at once)
        self._bd_seq_spent = True
        self.connected = True
        self.connects += 1
        self._failures = 0
        topics = self.node.topics
        client.subscribe(topics.ncmd, qos=1)
        if topics.state is not None:
            client.subscribe(topics.state, qos=1)
        log.info("sparkplug: connected to %s:%d (bdSeq %d)", self.cfg.host, self.cfg.port, self.session_bd_seq)
        self._post(("connected", self.session_bd_seq))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """No broker answered: this client's thread ends (no reconnect on failure); tick() opens the next one."""
        if client is not self.client:
            return
        if self._failures == 0:
            log.warning("sparkplug: cannot reach the broker %s:%d; retrying", self.cfg.host, self.cfg.port)
        self._failures += 1
        self._lost_at = time.monotonic()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if client is not self.client:
            return
        was, self.connected = self.connected, False
        if was:
            log.warning("sparkplug: connection to %s:%d lost (%s); retrying", self.cfg.host, self.cfg.port, reason)
        self._failures += 1
        self._lost_at = time.monotonic()  # the sender thread opens the next session (tick())
        self._post(("disconnected", None))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if client is self.client:
            self._post(("ack", mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        topic, payload = msg.topic, msg.payload
        try:
            if len(payload) > self.max_message_bytes:  # before anything reads it
                raise InboundError("oversize", f"{len(payload)} bytes, more than {self.max_message_bytes}")
            if topic == self.node.topics.state:
                if self.host.take(parse_state(bytes(payload))):
                    self._post(("host", self.host.online))
            elif topic == self.node.topics.ncmd and parse_ncmd(bytes(payload), self.max_message_bytes):
                self._post(("rebirth", None))
        except InboundError as exc:
            self.bad.count(topic, exc)
        except Exception:  # noqa: BLE001 - a bug here must not kill paho's network thread
            log.exception("sparkplug: handling a message on %s failed; dropped", topic[:120])

    def publish(self, topic: str, payload: bytes, qos: int) -> int | None:
        """Hand one message to the current client; its mid, or None when it refused (not connected, queue full)."""
        client = self.client
        if client is None or not self.connected:
            return None
        info = client.publish(topic, payload, qos=qos, retain=False)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def close(self, timeout: float) -> None:
        """A clean end: NDEATH with this session's bdSeq (QoS 1, waited for), then disconnect."""
        client = self.client
        if client is None:
            return
        if self.connected:
            with self._lock:
                death = self.node.death(int(time.time() * 1000), self.session_bd_seq)
            info = client.publish(self.node.topics.ndeath, death, qos=1, retain=False)
            try:
                info.wait_for_publish(timeout=max(0.1, timeout))
            except (RuntimeError, ValueError) as exc:
                log.warning("sparkplug: NDEATH not published at stop: %s", exc)
        self.connected = False
        client.disconnect()
        client.loop_stop()
