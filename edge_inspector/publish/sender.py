"""Write before you send: verdicts go to the durable spool, a sender thread publishes them from there.

The inspection thread only appends to the spool (about a millisecond) and never waits on the network.
The sender keeps at most `mqtt.max_inflight` verdicts unacknowledged, deletes each from the spool on
its PUBACK, and after a broker outage or a daemon restart publishes the backlog in order, with the
original timestamps and `"replayed": true`. A verdict the spool could not take (disk full, I/O error)
is kept in a bounded memory queue instead, counted, and still published; at stop whatever of it is
undelivered is written to the spool if the spool takes writes again, and counted as lost (memory_dropped)
and logged by seq otherwise. A verdict counts as sent only when every message it needs (the verdict and,
for FAIL/FAULT, the reject copy) was accepted by the client and acknowledged; a refused one is retried on
its own, so the copy that did go out is not sent twice.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config.models import MqttConfig
from .contract import encode
from .mqtt_client import MqttConnectError, MqttConnection
from .spool import Spool, SpoolEntry

log = logging.getLogger(__name__)
MEMORY_FALLBACK_LIMIT = 10_000
REPORT_EVERY_S = 60.0  # a failure that repeats per verdict (full disk) is logged at most this often


class LogThrottle:
    """The first event is logged, then at most one line per `interval` seconds that says how many were not."""

    def __init__(self, interval: float = REPORT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self.count = 0  # events so far, logged or not
        self._suppressed = 0
        self._next = -float("inf")
        self._lock = threading.Lock()

    def hit(self) -> int | None:
        """Count one event. None: do not log it; otherwise log it, with this many suppressed since the last line."""
        with self._lock:
            self.count += 1
            now = self.clock()
            if now < self._next:
                self._suppressed += 1
                return None
            self._next = now + self.interval
            suppressed, self._suppressed = self._suppressed, 0
            return suppressed


def _log_throttled(throttle: LogThrottle, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
    suppressed = throttle.hit()
    if suppressed is not None:
        tail = f" ({suppressed} more since the last report, {throttle.count} in all)" if suppressed else ""
        log.log(level, msg + "%s", *args, tail, exc_info=exc_info)


@dataclass(frozen=True)
class SenderStats:
    """Counters since start; depth counts the spool plus the memory fallback."""

    connected: bool
    reconnects: int
    published: int  # verdict messages handed to the broker connection (replays included)
    acknowledged: int  # verdicts fully acknowledged (verdict and, for rejects, the reject message)
    replayed: int  # verdicts published with replayed=true
    inflight: int
    depth: int
    oldest_age_s: float | None
    dropped_full: int
    dropped_age: int
    write_errors: int  # spool appends that failed (the verdict went to the memory fallback)
    memory_dropped: int  # verdicts lost: the memory fallback was full too, or still undelivered at stop
    memory_depth: int = 0  # undelivered verdicts held only in memory (not durable; included in depth)


@dataclass
class _Unsent:
    """One verdict handed to the connection topic by topic: `topics` are those not yet accepted."""

    entry: SpoolEntry
    payload: bytes
    replayed: bool
    topics: list[str] = field(default_factory=list)


class VerdictSender(threading.Thread):
    """Owns the spool and the broker connection. submit() from the inspection thread; start(); stop(grace)."""

    def __init__(self, cfg: MqttConfig, station_id: str, run_id: str, spool: Spool) -> None:
        super().__init__(name="mqtt-sender", daemon=True)
        self.cfg, self.run_id, self.spool = cfg, run_id, spool
        self.conn = MqttConnection(cfg, station_id, run_id, on_ack=self._on_ack, on_connect=self._wake)
        self._cond = threading.Condition()
        self._acks: collections.deque[int] = collections.deque()
        self._memory: collections.deque[SpoolEntry] = collections.deque()
        self._memory_ids = -1  # memory entries get negative ids, never mixed up with spool rows
        self._held: dict[int, SpoolEntry] = {}  # memory entries sent and not yet acknowledged (saved at stop)
        self._retry: collections.deque[_Unsent] = collections.deque()  # refused publishes, retried first
        self._inflight: dict[int, int] = {}  # mid -> entry id
        self._outstanding: dict[int, int] = {}  # entry id -> messages not yet acknowledged
        self._last_id = 0  # highest spool id handed to the connection
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._published = self._acked = self._replayed = self._write_errors = self._memory_dropped = 0
        self._next_expiry = 0.0
        # a failure that repeats per verdict or per turn (a full disk) logs its first line, then one a minute
        self.log_throttles = {kind: LogThrottle() for kind in ("write", "refused", "mark", "read")}

    # --- inspection thread ---------------------------------------------------------------------------
    def submit(self, run_id: str, seq: int, payload: bytes, reject: bool) -> bool:
        """Make one verdict durable and schedule it; never blocks on the network. False = spool failed (memory)."""
        try:
            self.spool.append(run_id, seq, payload, reject)
            ok = True
        except Exception as exc:  # noqa: BLE001 - a full disk must not cost the verdict
            ok = False
            with self._cond:
                self._write_errors += 1
                lost = len(self._memory) >= MEMORY_FALLBACK_LIMIT
                if lost:
                    self._memory.popleft()
                    self._memory_dropped += 1
                self._memory.append(SpoolEntry(self._memory_ids, run_id, seq, time.time(), reject, payload))
                self._memory_ids -= 1
            _log_throttled(self.log_throttles["write"], logging.ERROR,
                           "spool write failed for seq %d (%s); verdict kept in memory%s", seq, exc,
                           f" (memory fallback full: {self._memory_dropped} oldest verdicts lost)" if lost else "")
        self._wake()
        return ok

    # --- network thread ------------------------------------------------------------------------------
    def _on_ack(self, mid: int) -> None:
        with self._cond:
            self._acks.append(mid)
            self._cond.notify()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    # --- sender thread -------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (a broker that is down is not fatal: the spool fills and is sent later), then run."""
        try:
            self.conn.start()
        except MqttConnectError as exc:
            log.error("%s; verdicts are spooled until the broker is reachable", exc)
        super().start()

    def run(self) -> None:
        while True:
            with self._cond:
                if not self._acks:
                    self._cond.wait(timeout=0.2)
                acks = list(self._acks)
                self._acks.clear()
            self._settle(acks)
            if self.conn.connected:
                self._fill_window()
            if time.monotonic() >= self._next_expiry:
                self._next_expiry = time.monotonic() + 60.0
                self._expire()
            # Stopping: deliver what can be delivered within the grace; with no broker there is nothing to
            # wait for, the spool keeps the backlog for the next run.
            if self._stopping.is_set() and (self._drained() or time.monotonic() >= self._deadline
                                            or not self.conn.connected):
                return

    def _settle(self, mids: list[int]) -> None:
        done: list[int] = []
        with self._cond:
            for mid in mids:
                entry_id = self._inflight.pop(mid, None)
                if entry_id is None:
                    continue  # status/stats messages, or a message of an entry already settled
                left = self._outstanding.get(entry_id, 0) - 1
                if left > 0:
                    self._outstanding[entry_id] = left
                    continue
                if self._finished(entry_id):
                    done.append(entry_id)
        if done:
            try:
                self.spool.mark_delivered(done)
            except Exception:  # noqa: BLE001 - they would be resent after a restart: a duplicate, not a loss
                _log_throttled(self.log_throttles["mark"], logging.ERROR, "spool: marking %d verdicts delivered "
                               "failed", len(done), exc_info=True)

    def _finished(self, entry_id: int) -> bool:
        """Every message of the entry is acknowledged (call under _cond); True when it is a spool row to delete."""
        self._outstanding.pop(entry_id, None)
        self._held.pop(entry_id, None)
        self._acked += 1
        return entry_id > 0

    def _fill_window(self) -> None:
        while self._retry:  # refused publishes first: they hold their place in the window and in seq order
            if not self._publish(self._retry[0]):
                return
            self._retry.popleft()
        room = self.cfg.max_inflight - len(self._outstanding)
        if room <= 0:
            return
        batch: list[SpoolEntry] = []
        with self._cond:
            while self._memory and len(batch) < room:
                batch.append(self._memory.popleft())
        if len(batch) < room:
            try:
                batch += self.spool.pending(after_id=self._last_id, limit=room - len(batch))
            except Exception:  # noqa: BLE001 - retried on the next turn
                _log_throttled(self.log_throttles["read"], logging.ERROR, "spool: reading the backlog failed",
                               exc_info=True)
        for i, entry in enumerate(batch):
            if not self._send(entry):
                with self._cond:  # memory entries not tried yet go back in front, in order
                    self._memory.extendleft(e for e in reversed(batch[i + 1:]) if e.id < 0)
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
        with self._cond:
            if entry.id > 0:
                self._last_id = max(self._last_id, entry.id)
            else:
                self._held[entry.id] = entry
            self._outstanding[entry.id] = len(topics)  # settled when every one of them is acknowledged
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
                log.warning("MQTT publish on %s refused: %s", topic, exc)
                mid = None
            if mid is None:
                refused.append(topic)
                continue
            with self._cond:
                if topic == self.conn.topics.verdict:
                    self._published += 1
                    self._replayed += int(unsent.replayed)
                if self.cfg.qos > 0:
                    self._inflight[mid] = entry.id
                    continue
                left = self._outstanding.get(entry.id, 1) - 1
                self._outstanding[entry.id] = left
                done = left <= 0 and self._finished(entry.id)
            if done:
                self._acks_qos0(entry.id)
        unsent.topics = refused
        if refused:
            _log_throttled(self.log_throttles["refused"], logging.ERROR,
                           "verdict seq %d of run %s: publish on %s refused by the MQTT client; retried (the "
                           "messages that were accepted are not sent again)", entry.seq, entry.run_id,
                           " and ".join(refused))
        return not refused

    def _acks_qos0(self, entry_id: int) -> None:
        # QoS 0 has no acknowledgement: handing the message over is all the delivery there is.
        try:
            self.spool.mark_delivered([entry_id])
        except Exception:  # noqa: BLE001
            _log_throttled(self.log_throttles["mark"], logging.ERROR, "spool: marking verdict delivered failed",
                           exc_info=True)

    def _expire(self) -> None:
        try:
            self.spool.expire()
        except Exception:  # noqa: BLE001
            log.exception("spool: expiring old verdicts failed")

    def _drained(self) -> bool:
        with self._cond:
            return not self._outstanding and not self._memory and self.spool.depth == 0

    def _save_memory(self) -> tuple[int, list[int], list[int]]:
        """At stop: write the undelivered memory entries to the spool (it may take writes again); returns
        (how many were written, the seqs never sent that are lost, the seqs sent but never acknowledged that
        are not kept: the broker may or may not have them). The sender thread is done."""
        with self._cond:
            held = [self._held[i] for i in sorted(self._held, reverse=True)]
            entries = held + list(self._memory)
            self._held.clear()
            self._memory.clear()
        sent = {id(e) for e in held}
        saved, lost, unacked = 0, list[int](), list[int]()
        refused = False
        for entry in entries:
            if not refused:  # once the spool refuses one it is not taking writes: do not try every other one
                try:
                    self.spool.append(entry.run_id, entry.seq, entry.payload, entry.reject)
                    saved += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - counted and logged by the caller
                    log.error("spool %s still cannot be written at stop (%s)", self.spool.path, exc)
                    refused = True
            (unacked if id(entry) in sent else lost).append(entry.seq)
        with self._cond:
            self._memory_dropped += len(lost) + len(unacked)  # not known to be delivered: counted as dropped
        return saved, lost, unacked

    def publish_extra(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Telemetry (stats) that is not spooled: sent when connected, skipped otherwise."""
        if self.conn.connected:
            self.conn.publish(topic, payload, qos=qos, retain=retain)

    def stop(self, grace: float) -> None:
        """Keep sending for up to `grace` seconds until the backlog is acknowledged, then go offline and close.

        What is still undelivered stays in the spool for the next run; verdicts held only in memory (the spool
        could not be written) are written to it now if it takes writes again, else they are lost: counted in
        memory_dropped and logged by seq.
        """
        self._deadline = time.monotonic() + max(0.0, grace)
        self._stopping.set()
        self._wake()
        if self.is_alive():
            self.join(timeout=grace + 1.0)
        self.conn.stop(timeout=min(2.0, max(0.5, self._deadline - time.monotonic())))
        with self._cond:
            acks = list(self._acks)  # PUBACKs that came after the sender's last turn
            self._acks.clear()
        self._settle(acks)
        saved, lost, unacked = self._save_memory()
        left = self.stats()
        if left.write_errors:
            log.warning("%d spool writes failed during this run (%d verdicts lost from memory in all)",
                        left.write_errors, left.memory_dropped)
        if saved:
            log.warning("%d undelivered verdicts held in memory were written to the spool at stop", saved)
        if lost:
            log.error("stopped with %d undelivered verdicts held only in memory: the spool %s could not be "
                      "written, so they are LOST (seq %s); the audit log still has them", len(lost),
                      self.spool.path, _seq_ranges(lost))
        if unacked:
            log.error("stopped with %d verdicts held only in memory that were sent but never acknowledged: the "
                      "spool %s could not be written, so they are not kept and the broker may or may not have "
                      "them (seq %s); the audit log still has them", len(unacked), self.spool.path,
                      _seq_ranges(unacked))
        if self.spool.depth:
            log.warning("stopped with %d undelivered verdicts kept in the spool %s for the next run",
                        self.spool.depth, self.spool.path)
        self.spool.close()

    def stats(self) -> SenderStats:
        """A snapshot of the counters (safe from any thread)."""
        try:
            sp = self.spool.stats()
            depth, oldest, full, age = sp.depth, sp.oldest_age_s, sp.dropped_full, sp.dropped_age
        except Exception:  # noqa: BLE001 - stats must never take the daemon down
            depth, oldest, full, age = self.spool.depth, None, 0, 0
        with self._cond:
            return SenderStats(
                connected=self.conn.connected, reconnects=max(0, self.conn.connects - 1),
                published=self._published, acknowledged=self._acked, replayed=self._replayed,
                inflight=len(self._outstanding), depth=depth + len(self._memory) + len(self._held),
                oldest_age_s=oldest, dropped_full=full, dropped_age=age, write_errors=self._write_errors,
                memory_dropped=self._memory_dropped, memory_depth=len(self._memory) + len(self._held),
            )


def _seq_ranges(seqs: list[int], limit: int = 20) -> str:
    """'3-7, 9, 12-15' for the log; at most `limit` ranges, then how many more."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    return text + (f" and {len(ranges) - limit} more ranges" if len(ranges) > limit else "")
