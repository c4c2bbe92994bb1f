"""The edge node's MQTT session: a paho client whose last will is the NDEATH of the current bdSeq.

Sparkplug 3.0 asks an edge node for a clean session and a new bdSeq per connection, with the NDEATH carrying
that bdSeq as the will (QoS 1, not retained). paho reconnects on its own, so the will is re-armed with the
next bdSeq in the disconnect callback, before paho's next CONNECT. The bdSeq survives restarts in a small
file beside the outbox, so a host never sees two sessions of this node with the same number in a row.
Callbacks run on paho's network thread: they only parse bounded messages and hand events to the sender's
queue; nothing here waits on a lock the sender holds while it publishes.
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
    """The client and its callbacks; `post(event)` hands events to the sender thread."""

    def __init__(self, mqtt_cfg: MqttConfig, client_id: str, node: NodeState, bd_seq_file: Path,
                 post: Callable[[Event], None], max_message_bytes: int) -> None:
        self.cfg, self.node, self.bd_seq_file, self._post = mqtt_cfg, node, bd_seq_file, post
        self.max_message_bytes = max_message_bytes
        self.host = HostTracker()
        self.bad = BadMessages()
        self.connected = False
        self.connects = 0
        self._lock = threading.Lock()  # guards the session bdSeq between paho's thread and start()
        self.session_bd_seq = read_bd_seq(bd_seq_file)
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, round(mqtt_cfg.reconnect_max_delay)))
        apply_auth(self.client, username=mqtt_cfg.username, password=mqtt_cfg.password, tls=mqtt_cfg.tls,
                   ca_file=mqtt_cfg.ca_file, cert_file=mqtt_cfg.cert_file, key_file=mqtt_cfg.key_file)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _arm_will(self) -> None:
        """The next session's bdSeq into the will (and the file); called before every CONNECT."""
        with self._lock:
            self.session_bd_seq = (self.session_bd_seq + 1) % 256
            will = self.node.death(int(time.time() * 1000), self.session_bd_seq)
        write_bd_seq(self.bd_seq_file, self.session_bd_seq)
        self.client.will_set(self.node.topics.ndeath, will, qos=1, retain=False)

    def start(self) -> None:
        """Arm the will and connect in the background; a broker that is down is retried by paho."""
        self._arm_will()
        self.client.max_inflight_messages_set(1000)
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", reason != 0):
            log.error("sparkplug: broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            return
        self._forget_queued(client)
        self.host.state = None  # a new session waits for the host's STATE again (retained, it comes at once)
        self.connected = True
        self.connects += 1
        topics = self.node.topics
        client.subscribe(topics.ncmd, qos=1)
        if topics.state is not None:
            client.subscribe(topics.state, qos=1)
        log.info("sparkplug: connected to %s:%d (bdSeq %d)", self.cfg.host, self.cfg.port, self.session_bd_seq)
        self._post(("connected", self.session_bd_seq))

    @staticmethod
    def _forget_queued(client: mqtt.Client) -> None:
        """Drop what paho kept from the last session before it resends it (right after this callback).

        paho resends unacknowledged and queued messages on every reconnect, even with a clean session; for
        Sparkplug they would arrive before the new NBIRTH with the old session's seq. The outbox still holds
        every unacknowledged verdict and sends it again after the birth. paho has no public call for this
        (paho-mqtt is pinned in constraints.txt; tests/integration/test_sparkplug_edge_node.py guards it).
        """
        with client._out_message_mutex:
            client._out_messages.clear()
            client._inflight_messages = 0

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was, self.connected = self.connected, False
        if was:
            log.warning("sparkplug: connection to %s:%d lost (%s); retrying", self.cfg.host, self.cfg.port, reason)
            self._arm_will()  # paho's next CONNECT carries the next bdSeq's NDEATH
        self._post(("disconnected", None))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
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
        """Hand one message to paho; its mid, or None when paho refused it (not connected, queue full)."""
        info = self.client.publish(topic, payload, qos=qos, retain=False)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def close(self, timeout: float) -> None:
        """A clean end: NDEATH with this session's bdSeq (QoS 1, waited for), then disconnect."""
        if self.connected:
            with self._lock:
                death = self.node.death(int(time.time() * 1000), self.session_bd_seq)
            info = self.client.publish(self.node.topics.ndeath, death, qos=1, retain=False)
            try:
                info.wait_for_publish(timeout=max(0.1, timeout))
            except (RuntimeError, ValueError) as exc:
                log.warning("sparkplug: NDEATH not published at stop: %s", exc)
        self.connected = False
        self.client.disconnect()
        self.client.loop_stop()
