"""The sender's window: hand spooled (or memory-held) verdicts to the connection, at most `mqtt.max_inflight`
unacknowledged, and settle them on their PUBACKs.

Refused publishes go first on the next turn, so they keep their place in the window and in seq order; of
a refused verdict only the messages the client did not accept are published again. A settled spool row is
deleted; a settled memory entry is forgotten. Runs on the sender thread; the state shared with the other
threads (the ledger, the memory fallback) is touched only under the sender's lock.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from dataclasses import dataclass, field

from ..config.models import MqttConfig
from .contract import encode
from .delivery_ledger import DeliveryLedger
from .log_throttle import LogThrottle
from .memory_fallback import MemoryFallback
from .mqtt_client import MqttConnection
from .spool import Spool, SpoolEntry


@dataclass
class _Unsent:
    """One verdict handed to the connection topic by topic: `topics` are those not yet accepted."""

    entry: SpoolEntry
    payload: bytes
    replayed: bool
    topics: list[str] = field(default_factory=list)


class SendWindow:
    """fill() and settle() on the sender thread; `lock` is the sender's, `log` its logger (the lines keep its name)."""

    def __init__(self, cfg: MqttConfig, run_id: str, spool: Spool, conn: MqttConnection, lock: threading.Condition,
                 memory: MemoryFallback, throttles: dict[str, LogThrottle], log: logging.Logger) -> None:
        self.cfg, self.run_id, self.spool, self.conn = cfg, run_id, spool, conn
        self._lock, self.memory, self.throttles, self.log = lock, memory, throttles, log
        self.ledger = DeliveryLedger()
        self._retry: collections.deque[_Unsent] = collections.deque()  # refused publishes, retried first

    def settle(self, mids: list[int]) -> None:
        """The messages `mids` were acknowledged: settle the verdicts they complete."""
        done: list[int] = []
        with self._lock:
            for mid in mids:
                entry_id = self.ledger.acknowledged(mid)
                if entry_id is not None and self._finished(entry_id):
                    done.append(entry_id)
        if done:
            try:
                self.spool.mark_delivered(done)
            except Exception:  # noqa: BLE001 - they would be resent after a restart: a duplicate, not a loss
                self.throttles["mark"].log(self.log, logging.ERROR, "spool: marking %d verdicts delivered failed",
                                           len(done), exc_info=True)

    def _finished(self, entry_id: int) -> bool:
        """One message of the entry is done (call under the lock); True when that settled a spool row to delete."""
        if not self.ledger.one_settled(entry_id):
            return False
        self.memory.held.pop(entry_id, None)
        return entry_id > 0

    def fill(self) -> None:
        """Hand verdicts to the connection until the window is full or the client refuses one."""
        while self._retry:  # refused publishes first: they hold their place in the window and in seq order
            if not self._publish(self._retry[0]):
                return
            self._retry.popleft()
        room = self.cfg.max_inflight - len(self.ledger.outstanding)
        if room <= 0:
            return
        with self._lock:
            batch = self.memory.take(room)
        if len(batch) < room:
            try:
                batch += self.spool.pending(after_id=self.ledger.last_id, limit=room - len(batch))
            except Exception:  # noqa: BLE001 - retried on the next turn
                self.throttles["read"].log(self.log, logging.ERROR, "spool: reading the backlog failed",
                                           exc_info=True)
        for i, entry in enumerate(batch):
            if not self._send(entry):
                with self._lock:  # memory entries not tried yet go back in front, in order
                    self.memory.put_back(batch[i + 1:])
                return

    def _send(self, entry: SpoolEntry) -> bool:
        """Hand one verdict (and its reject copy) to the connection; False when the client refused a message."""
        payload = entry.payload
        replayed = entry.run_id != self.run_id or entry.created < self.conn.connected_at
        if replayed:
            record = json.loads(payload)
            record["replayed"] = True
            payload = encode(record)
        topics = [self.conn.topics.verdict] + ([self.conn.topics.reject] if entry.reject else [])
        with self._lock:
            if entry.id <= 0:
                self.memory.held[entry.id] = entry  # memory entries sent and not yet acknowledged (saved at stop)
            self.ledger.expect(entry, len(topics))  # settled when every one of them is acknowledged
        unsent = _Unsent(entry, payload, replayed, topics)
        if self._publish(unsent):
            return True
        self._retry.append(unsent)
        return False

    def _publish(self, unsent: _Unsent) -> bool:
        """Publish the topics of `unsent` not yet accepted; False (the refused ones kept in it) on a refusal."""
        entry, refused = unsent.entry, []
        for topic in unsent.topics:
            try:
                mid = self.conn.publish(topic, unsent.payload, qos=self.cfg.qos)
            except ValueError as exc:  # paho's own checks (payload size, topic): refused like a full queue
                self.log.warning("MQTT publish on %s refused: %s", topic, exc)
                mid = None
            if mid is None:
                refused.append(topic)
                continue
            verdict_copy = topic == self.conn.topics.verdict
            with self._lock:
                if self.cfg.qos > 0:
                    self.ledger.accepted(entry.id, mid, verdict_copy, unsent.replayed)
                    continue
                self.ledger.count_published(verdict_copy, unsent.replayed)
                done = self._finished(entry.id)
            if done:
                self._acks_qos0(entry.id)
        unsent.topics = refused
        if refused:
            self.throttles["refused"].log(
                self.log, logging.ERROR, "verdict seq %d of run %s: publish on %s refused by the MQTT client; "
                "retried (the messages that were accepted are not sent again)", entry.seq, entry.run_id,
                " and ".join(refused))
        return not refused

    def _acks_qos0(self, entry_id: int) -> None:
        # QoS 0 has no acknowledgement: handing the message over is all the delivery there is.
        try:
            self.spool.mark_delivered([entry_id])
        except Exception:  # noqa: BLE001
            self.throttles["mark"].log(self.log, logging.ERROR, "spool: marking verdict delivered failed",
                                       exc_info=True)

    def drained(self) -> bool:
        """Nothing in flight, in memory or in the spool."""
        with self._lock:
            return not self.ledger.outstanding and not self.memory.waiting and self.spool.depth == 0
