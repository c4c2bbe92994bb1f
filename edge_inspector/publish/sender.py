"""Write before you send: verdicts go to the durable spool, a sender thread publishes them from there.

The inspection thread only appends to the spool (about a millisecond) and never waits on the network.
The sender keeps at most `mqtt.max_inflight` verdicts unacknowledged, deletes each from the spool on
its PUBACK, and after a broker outage or a daemon restart publishes the backlog in order, with the
original timestamps and `"replayed": true`. A verdict the spool could not take (disk full, I/O error)
is kept in a bounded memory queue instead, counted, and still published.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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
    memory_dropped: int  # verdicts lost because the memory fallback was full too


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
                self._outstanding.pop(entry_id, None)
                self._acked += 1
                if entry_id > 0:
                    done.append(entry_id)
        if done:
            try:
                self.spool.mark_delivered(done)
            except Exception:  # noqa: BLE001 - they would be resent after a restart: a duplicate, not a loss
                _log_throttled(self.log_throttles["mark"], logging.ERROR, "spool: marking %d verdicts delivered "
                               "failed", len(done), exc_info=True)

    def _fill_window(self) -> None:
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
        for entry in batch:
            if not self._send(entry):
                return

    def _send(self, entry: SpoolEntry) -> bool:
        """Hand one verdict (and its reject copy) to the connection; False when the client refused it."""
        payload = entry.payload
        replayed = entry.run_id != self.run_id or entry.created < self.conn.connected_at
        if replayed:
            record = json.loads(payload)
            record["replayed"] = True
            payload = encode(record)
        topics = [self.conn.topics.verdict] + ([self.conn.topics.reject] if entry.reject else [])
        sent = [m for m in (self.conn.publish(t, payload, qos=self.cfg.qos) for t in topics) if m is not None]
        if not sent:
            _log_throttled(self.log_throttles["refused"], logging.ERROR,
                           "verdict seq %d of run %s refused by the MQTT client; retried from the spool",
                           entry.seq, entry.run_id)
            if entry.id < 0:
                with self._cond:
                    self._memory.appendleft(entry)
            return False
        if len(sent) < len(topics):
            log.error("reject copy of verdict seq %d of run %s refused by the MQTT client", entry.seq, entry.run_id)
        with self._cond:
            self._published += 1
            self._replayed += int(replayed)
            if entry.id > 0:
                self._last_id = max(self._last_id, entry.id)
            if self.cfg.qos > 0:
                self._outstanding[entry.id] = len(sent)
                for mid in sent:
                    self._inflight[mid] = entry.id
                return True
            self._acked += 1
        if entry.id > 0:
            self._acks_qos0(entry.id)
        return True

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

    def publish_extra(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Telemetry (stats) that is not spooled: sent when connected, skipped otherwise."""
        if self.conn.connected:
            self.conn.publish(topic, payload, qos=qos, retain=retain)

    def stop(self, grace: float) -> None:
        """Keep sending for up to `grace` seconds until the backlog is acknowledged, then go offline and close.

        What is still undelivered stays in the spool for the next run.
        """
        self._deadline = time.monotonic() + max(0.0, grace)
        self._stopping.set()
        self._wake()
        if self.is_alive():
            self.join(timeout=grace + 1.0)
        left = self.stats()
        self.conn.stop(timeout=min(2.0, max(0.5, self._deadline - time.monotonic())))
        if left.write_errors:
            log.warning("%d spool writes failed during this run (%d verdicts lost because the memory fallback "
                        "was full too)", left.write_errors, left.memory_dropped)
        if left.depth:
            log.warning("stopped with %d undelivered verdicts kept in the spool %s for the next run",
                        left.depth, self.spool.path)
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
                inflight=len(self._outstanding), depth=depth + len(self._memory), oldest_age_s=oldest,
                dropped_full=full, dropped_age=age, write_errors=self._write_errors,
                memory_dropped=self._memory_dropped,
            )
