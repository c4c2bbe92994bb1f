"""Write before you send, for Sparkplug: verdicts go to the node's own outbox, this thread publishes them from it.

The inspection thread only appends the verdict's contract object to the outbox (outbox.py: the same Spool class
as the contract's, its own file, and the contract's bounded memory fallback for what the file refuses) and never
waits on the network. This thread publishes only while the broker is
connected and the primary host (when one is configured) has said `online` in its STATE: first NBIRTH and
DBIRTH, then the outbox in order, one DDATA per verdict (QoS 1, deleted from the outbox on its PUBACK, at most
`max_inflight` unacknowledged). A verdict that was already in the outbox when the current NBIRTH went out (held
through a broker or host outage, or from an earlier run) is sent with is_historical=true; every DDATA carries
the verdict's capture time. A lost connection forgets the unacknowledged window: those verdicts are still in
the outbox and go out again after the next birth (at least once, never lost). Sparkplug asks for QoS 0 data;
QoS 1 is what lets the outbox know a verdict reached the broker.
"""

from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.models import MqttConfig
from ..config.redact import cap
from ..publish.spool import Spool, SpoolEntry
from .node import NodeState, Topics
from .outbox import Outbox
from .session import Event, Session

log = logging.getLogger(__name__)
MAX_EVENTS = 100_000  # paho events waiting for this thread (acks, connects); far more than the window


@dataclass(frozen=True)
class NodeIds:
    """Who the node is in the Sparkplug namespace and whose STATE it obeys (None: publish whenever connected)."""

    group_id: str
    edge_node_id: str
    device_id: str
    primary_host_id: str | None = None


@dataclass(frozen=True)
class EdgeNodeStats:
    """Counters since start (connected, host_online, inflight, depth and memory_depth are current)."""

    connected: bool  # the node's own broker connection is up
    host_online: bool  # the primary host's STATE says online (always true without a primary host)
    births: int  # NBIRTHs published (each with its DBIRTH): one per session, plus rebirths
    published: int  # verdict DDATA handed to the broker connection (resends after an outage included)
    acknowledged: int  # verdict DDATA whose PUBACK arrived (then deleted from the outbox)
    historical: int  # verdict DDATA published with is_historical=true (held through an outage)
    inflight: int  # verdict DDATA sent and not yet acknowledged
    depth: int  # verdicts not yet acknowledged: in the outbox file and held only in memory
    reconnects: int  # broker connections after the first
    bad_messages: int  # NCMD/STATE messages dropped (oversize, unreadable)
    bad_entries: int  # outbox entries that could not be read (dropped)
    write_errors: int  # outbox appends that failed (the verdict went to the memory fallback)
    memory_depth: int  # verdicts held only in memory now (not durable; included in depth)
    memory_dropped: int  # verdicts lost from memory: pushed out of the full queue, or unsaved at stop


class SparkplugEdgeNode(threading.Thread):
    """submit() from the inspection thread; set_status() from any thread; start(); stop(grace)."""

    def __init__(self, ids: NodeIds, mqtt_cfg: MqttConfig, station_id: str, run_id: str, spool: Spool, *,
                 client_id: str, bd_seq_file: Path, max_inflight: int = 100,
                 max_message_bytes: int = 65536) -> None:
        super().__init__(name="sparkplug-sender", daemon=True)
        self.ids, self.spool, self.max_inflight = ids, spool, max(1, max_inflight)
        self.outbox = Outbox(spool)
        topics = Topics.of(ids.group_id, ids.edge_node_id, ids.device_id, ids.primary_host_id)
        self.node = NodeState(topics, station_id, run_id)
        self._cond = threading.Condition()  # only for waiting: never held while publishing
        self._events: collections.deque[Event] = collections.deque()
        self._status: dict[str, Any] = {}
        self.session = Session(mqtt_cfg, client_id, self.node, bd_seq_file, self._post, max_message_bytes)
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._connected = False
        self._host_online = ids.primary_host_id is None
        self._born = False
        self._birth_wall = 0.0
        self._inflight: dict[int, int] = {}  # mid -> outbox id (negative: held in memory)
        self._last_sent_id = 0  # the file's last entry sent in this window
        self._counted_id = 0  # file entries up to this one were counted in Counts/*
        self._counted_mem = 0  # memory entries (negative ids) down to this one were counted
        self.published = self.acknowledged = self.historical = self.bad_entries = 0
        # held verdicts older than the outbox's max_age_s are dropped: checked at start (an earlier run's) and
        # then every minute, or four times per max_age when that is shorter
        self._expiry_every = min(60.0, max(0.5, spool.max_age_s / 4))
        self._next_expiry = 0.0

    # --- any thread ------------------------------------------------------------------------------------
    def _post(self, event: Event) -> None:
        with self._cond:
            if len(self._events) < MAX_EVENTS or event[0] in ("ack", "connected", "disconnected"):
                self._events.append(event)
            self._cond.notify()

    def submit(self, run_id: str, seq: int, payload: bytes, reject: bool) -> bool:
        """Keep one verdict (its contract bytes) in the outbox; False: the file refused it, memory holds it."""
        durable = self.outbox.append(run_id, seq, payload, reject)
        self._post(("appended", None))
        return durable

    def set_status(self, **extra: Any) -> None:
        """The daemon's status keys (capture, model_id, profile): birth values, and a DDATA when they change."""
        with self._cond:
            self._status.update(extra)
        self._post(("status", None))

    # --- this thread -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (a broker that is down is retried) and run."""
        self.session.start()
        super().start()

    def run(self) -> None:
        while True:
            with self._cond:
                if not self._events:
                    self._cond.wait(timeout=0.2)
                events = list(self._events)
                self._events.clear()
                status, self._status = self._status, {}
            try:
                self._turn(events, status)
                self._expire()
            except Exception:  # noqa: BLE001 - a bad turn must not end the thread; the outbox keeps the verdicts
                log.exception("sparkplug: sender turn failed; retrying")
                time.sleep(0.5)
            if self._stopping.is_set() and (not self._inflight and not self._pending() or not self._ready()
                                            or time.monotonic() >= self._deadline):
                return

    def _expire(self) -> None:
        """Drop held verdicts older than sparkplug.max_age_hours (counted by the outbox, logged here)."""
        if time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + self._expiry_every
        try:
            gone = self.spool.expire()
        except (sqlite3.Error, OSError) as exc:  # a full disk: the next try is in a minute
            log.warning("sparkplug: expiring old verdicts failed (%s)", cap(str(exc), 200))
            return
        if gone:
            log.warning("sparkplug: dropped %d held verdicts older than sparkplug.max_age_hours (%.4g h)", gone,
                        self.spool.max_age_s / 3600)

    def _ready(self) -> bool:
        return self._connected and self._host_online

    def _pending(self) -> bool:
        return self.outbox.has_pending(self._last_sent_id)

    def _settle(self, mid: int) -> None:
        entry_id = self._inflight.pop(mid, None)
        if entry_id is not None:
            self.outbox.done(entry_id)
            self.acknowledged += 1

    def _turn(self, events: list[Event], status: dict[str, Any]) -> None:
        rebirth = False
        for kind, value in events:
            if kind == "ack":
                self._settle(value)
            elif kind == "connected":  # a new session: birth again, once the host (if any) says online
                self._connected, self.node.bd_seq, self._born = True, value, False
                self._host_online = self.ids.primary_host_id is None
                self._forget_window()
            elif kind == "disconnected":
                self._connected, self._born = False, False
                self._forget_window()
            elif kind == "host":
                if value and not self._host_online:
                    log.info("sparkplug: primary host %s online; birth, then the held verdicts",
                             self.ids.primary_host_id)
                elif not value and self._host_online:
                    log.warning("sparkplug: primary host %s offline; verdicts are held in the outbox",
                                self.ids.primary_host_id)
                self._host_online, self._born = bool(value), self._born and bool(value)
            elif kind == "rebirth":
                rebirth = True
        self.session.tick()  # after a lost connection: the next session, on a fresh client, once it is due
        for entry, new_id in self.outbox.flush():  # the file takes writes again: memory's verdicts into it
            if self._counted_mem <= entry.id < 0:  # already sent (and counted) once: not counted again
                self._counted_id = max(self._counted_id, new_id)
        now_ms = int(time.time() * 1000)
        if not self._ready():
            self.node.status_data(status, now_ms, born=False)  # remembered for the next birth
            return
        if not self._born or rebirth:
            self.node.status_data(status, now_ms, born=False)
            self._birth(now_ms)
        else:
            data = self.node.status_data(status, now_ms, born=True)
            if data is not None:
                self.session.publish(self.node.topics.ddata, data, qos=0)
        self._fill()

    def _forget_window(self) -> None:
        """A new or lost connection: unacknowledged verdicts are sent again from the outbox after the birth."""
        self._inflight.clear()
        self._last_sent_id = 0
        self.outbox.forget_window()

    def _birth(self, now_ms: int) -> None:
        self._birth_wall = time.time()
        for topic, payload in self.node.birth(now_ms):
            self.session.publish(topic, payload, qos=0)
        self._born = True
        log.info("sparkplug: NBIRTH/DBIRTH published (bdSeq %d, birth %d)", self.node.bd_seq, self.node.births)

    def _fill(self) -> None:
        room = self.max_inflight - len(self._inflight)
        if room <= 0:
            return
        batch = self.outbox.take(self._last_sent_id, room)
        for i, entry in enumerate(batch):
            if not self._send(entry):  # not connected after all: the outbox keeps it and the rest, in order
                self.outbox.put_back(batch[i:])
                return

    def _send(self, entry: SpoolEntry) -> bool:
        """Publish one verdict DDATA (QoS 1); False when the client refused it."""
        try:
            record = json.loads(entry.payload)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:  # cannot happen for what the daemon wrote; dropped so it cannot block
            self.bad_entries += 1
            log.error("sparkplug: outbox entry %d (seq %d) unreadable (%s); dropped", entry.id, entry.seq,
                      str(exc)[:200])
            self.outbox.done(entry.id)
            self._last_sent_id = max(self._last_sent_id, entry.id)
            return True
        historical = entry.created < self._birth_wall
        count = entry.id > self._counted_id if entry.id > 0 else entry.id < self._counted_mem
        payload = self.node.verdict_data(record, historical=historical, count=count, now_ms=int(time.time() * 1000))
        mid = self.session.publish(self.node.topics.ddata, payload, qos=1)
        if mid is None:  # its seq goes to the next message
            self.node.seq = (self.node.seq - 1) % 256
            return False
        if entry.id > 0:
            self._counted_id = max(self._counted_id, entry.id)
            self._last_sent_id = entry.id
        else:
            self._counted_mem = min(self._counted_mem, entry.id)
        self.outbox.sent(entry)
        self._inflight[mid] = entry.id
        self.published += 1
        self.historical += historical
        return True

    def stop(self, grace: float) -> None:
        """Send for up to `grace` s while connected, then NDEATH and disconnect; the rest stays in the outbox
        (what memory holds is written to it if it takes writes, else counted and logged as lost)."""
        self._deadline = time.monotonic() + max(0.0, grace)
        self._stopping.set()
        self._post(("stop", None))
        if self.is_alive():
            self.join(timeout=grace + 0.5)
        self.session.close(timeout=min(1.0, max(0.5, self._deadline - time.monotonic())))
        with self._cond:  # PUBACKs that came after the sender's last turn
            acks = [value for kind, value in self._events if kind == "ack"]
        for mid in acks:
            self._settle(mid)
        self.outbox.close()

    def stats(self) -> EdgeNodeStats:
        """A snapshot of the counters (read from any thread; plain ints)."""
        memory = self.outbox.memory
        return EdgeNodeStats(
            connected=self._connected, host_online=self._host_online, births=self.node.births,
            published=self.published, acknowledged=self.acknowledged, historical=self.historical,
            inflight=len(self._inflight), depth=self.outbox.depth, reconnects=max(0, self.session.connects - 1),
            bad_messages=sum(self.session.bad.counts.values()), bad_entries=self.bad_entries,
            write_errors=self.outbox.write_errors, memory_depth=memory.depth, memory_dropped=memory.dropped)
