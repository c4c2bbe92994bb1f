"""The MQTT side of the OPC UA server: subscribes to the station's verdict and retained status topics.

The server takes no new path around the daemon's spool: it reads the same verdict stream a PLC reads, with a
persistent session (fixed client id, clean_session off, QoS 1) so the broker holds verdicts for it while it
restarts. Each message is checked (messages.py); a bad one is counted by kind and logged at most once per kind
per minute, and never stops the feed. Good ones go, in arrival order, into a bounded queue the OPC UA side
drains; when that queue is full the MQTT thread waits.

Acknowledgements are manual: a verdict's PUBACK goes out only when the OPC UA side calls `ack(delivery)`, after
it has committed the verdict to its result store (result_store.py). A server killed before that leaves the
verdict unacknowledged, and the broker redelivers it to the persistent session when the server is back. Bad
messages and statuses are acknowledged at once (nothing to keep).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..config.redact import cap
from ..publish.log_throttle import KindThrottles
from ..publish.mqtt_auth import apply_auth
from .config import FeedMqtt
from .messages import MessageError, Status, Verdict, parse_status, parse_verdict

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000  # verdicts waiting for the OPC UA side


@dataclass(frozen=True)
class Connected:
    """The feed's broker connection went up (True) or down (False)."""

    up: bool


@dataclass(frozen=True)
class Delivery:
    """One checked verdict with its message as received (what the result store keeps) and its MQTT id."""

    verdict: Verdict
    payload: bytes
    mid: int
    qos: int


Item = Delivery | Status | Connected


class FeedCounters:
    """What the feed saw: good verdicts (duplicates included), statuses and bad messages by kind."""

    def __init__(self) -> None:
        self.verdicts = 0
        self.statuses = 0
        self.rejected: Counter[str] = Counter()
        self._warnings = KindThrottles()  # one warning per kind a minute at most

    def reject(self, topic: str, exc: MessageError) -> None:
        self.rejected[exc.kind] += 1
        if self._warnings.hit(exc.kind) is not None:
            log.warning("dropped a message on %s (%s, %d so far; one warning per kind a minute): %s",
                        cap(topic, 120), exc.kind, self.rejected[exc.kind], cap(str(exc), 300))


class MqttFeed:
    """Subscribes as described in the module doc; `items` is the queue the OPC UA side reads."""

    def __init__(self, cfg: FeedMqtt, station: str, password: str | None) -> None:
        self.cfg, self.station = cfg, station
        base = f"{cfg.topic_prefix}/{station}"
        self.topics = {f"{base}/verdict": self._verdict, f"{base}/status": self._status}
        self.items: queue.Queue[Item] = queue.Queue(QUEUE_LIMIT)
        self.counters = FeedCounters()
        self._stop = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or "",
                                   clean_session=False, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 5)
        apply_auth(self._client, username=cfg.username, password=password, tls=cfg.tls, ca_file=cfg.ca_file,
                   cert_file=cfg.cert_file, key_file=cfg.key_file)

    def start(self) -> MqttFeed:
        """Connect in the background (the broker may not be up yet: paho keeps retrying)."""
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, rc)
            return
        client.subscribe([(topic, 1) for topic in self.topics])
        self._put(Connected(True))

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                       props: object) -> None:
        self._put(Connected(False))

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge a verdict to the broker (call once it is committed: see module doc)."""
        self._client.ack(delivery.mid, delivery.qos)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        handler = self.topics.get(msg.topic)
        kept = False
        try:
            if handler is not None:
                kept = handler(bytes(msg.payload), msg.mid, msg.qos)
        except MessageError as exc:
            self.counters.reject(msg.topic, exc)
        except Exception as exc:  # noqa: BLE001 - a bug on one message must not stop the feed thread
            self.counters.reject(msg.topic, MessageError("error", f"{type(exc).__name__}: {exc}"))
        finally:
            if not kept:
                client.ack(msg.mid, msg.qos)

    def _verdict(self, payload: bytes, mid: int, qos: int) -> bool:
        verdict = parse_verdict(payload, self.station, self.cfg.max_message_bytes)
        self.counters.verdicts += 1
        self._put(Delivery(verdict, payload, mid, qos))
        return True  # acknowledged by the OPC UA side once committed; never when the feed stopped first

    def _status(self, payload: bytes, mid: int, qos: int) -> bool:
        if not payload:  # an empty retained publish clears the topic: nothing to show
            return False
        status = parse_status(payload, self.station, self.cfg.max_message_bytes)
        self.counters.statuses += 1
        self._put(status)
        return False  # acknowledged at once: the retained status is not ours to keep

    def _put(self, item: Item) -> bool:
        """Queue `item`; False when the feed stops first (the item is dropped: unacknowledged, redelivered)."""
        while not self._stop.is_set():
            try:
                self.items.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False
