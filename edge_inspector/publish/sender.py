"""Write before you send: verdicts go to the durable spool, a sender thread publishes them from there.

The inspection thread only appends to the spool (about a millisecond) and never waits on the network.
The sender keeps at most `mqtt.max_inflight` verdicts unacknowledged, deletes each from the spool on
its PUBACK, and after a broker outage or a daemon restart publishes the backlog in order, with the
original timestamps and `"replayed": true`. A verdict the spool could not take (disk full, I/O error)
is kept in a bounded memory queue instead (memory_fallback.py), counted, and still published; at stop
whatever of it is undelivered is written to the spool if the spool takes writes again, and counted as lost
(memory_dropped) and logged by seq otherwise. A verdict counts as sent only when every message it needs
(the verdict and, for FAIL/FAULT, the reject copy) was accepted by the client and acknowledged
(send_window.py, delivery_ledger.py); a refused one is retried on its own, so the copy that did go out is
not sent twice. This module is the thread: submit(), the loop, stop() and the counters.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from ..config.models import MqttConfig
from .delivery_ledger import SenderStats
from .log_throttle import LogThrottle
from .memory_fallback import MemoryFallback, save_at_stop, seq_ranges
from .mqtt_client import MqttConnectError, MqttConnection
from .send_window import SendWindow
from .spool import Spool

log = logging.getLogger(__name__)
__all__ = ["SenderStats", "VerdictSender"]


class VerdictSender(threading.Thread):
    """Owns the spool and the broker connection. submit() from the inspection thread; start(); stop(grace)."""

    def __init__(self, cfg: MqttConfig, station_id: str, run_id: str, spool: Spool) -> None:
        super().__init__(name="mqtt-sender", daemon=True)
        self.cfg, self.run_id, self.spool = cfg, run_id, spool
        self.conn = MqttConnection(cfg, station_id, run_id, on_ack=self._on_ack, on_connect=self._wake)
        self._cond = threading.Condition()  # guards the acks, the memory fallback and the window's ledger
        self._acks: collections.deque[int] = collections.deque()
        self._memory = MemoryFallback()
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._write_errors = 0
        self._next_expiry = 0.0
        # a failure that repeats per verdict or per turn (a full disk) logs its first line, then one a minute
        self.log_throttles = {kind: LogThrottle() for kind in ("write", "refused", "mark", "read")}
        self._window = SendWindow(cfg, run_id, spool, self.conn, self._cond, self._memory, self.log_throttles, log)

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
                lost = self._memory.add(run_id, seq, payload, reject)
            self.log_throttles["write"].log(
                log, logging.ERROR, "spool write failed for seq %d (%s); verdict kept in memory%s", seq, exc,
                f" (memory fallback full: {self._memory.dropped} oldest verdicts lost)" if lost else "")
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
            self._window.settle(acks)
            if self.conn.connected:
                self._window.fill()
            if time.monotonic() >= self._next_expiry:
                self._next_expiry = time.monotonic() + 60.0
                self._expire()
            # Stopping: deliver what can be delivered within the grace; with no broker there is nothing to
            # wait for, the spool keeps the backlog for the next run.
            if self._stopping.is_set() and (self._window.drained() or time.monotonic() >= self._deadline
                                            or not self.conn.connected):
                return

    def _expire(self) -> None:
        try:
            self.spool.expire()
        except Exception:  # noqa: BLE001
            log.exception("spool: expiring old verdicts failed")

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
        self._window.settle(acks)
        with self._cond:
            held, waiting = self._memory.drain()
        saved, lost, unacked = save_at_stop(self.spool, held, waiting, log)
        with self._cond:
            self._memory.dropped += len(lost) + len(unacked)  # not known to be delivered: counted as dropped
        self._report_stop(saved, lost, unacked)
        self.spool.close()

    def _report_stop(self, saved: int, lost: list[int], unacked: list[int]) -> None:
        left = self.stats()
        if left.write_errors:
            log.warning("%d spool writes failed during this run (%d verdicts lost from memory in all)",
                        left.write_errors, left.memory_dropped)
        if saved:
            log.warning("%d undelivered verdicts held in memory were written to the spool at stop", saved)
        if lost:
            log.error("stopped with %d undelivered verdicts held only in memory: the spool %s could not be "
                      "written, so they are LOST (seq %s); the audit log still has them", len(lost),
                      self.spool.path, seq_ranges(lost))
        if unacked:
            log.error("stopped with %d verdicts held only in memory that were sent but never acknowledged: the "
                      "spool %s could not be written, so they are not kept and the broker may or may not have "
                      "them (seq %s); the audit log still has them", len(unacked), self.spool.path,
                      seq_ranges(unacked))
        if self.spool.depth:
            log.warning("stopped with %d undelivered verdicts kept in the spool %s for the next run",
                        self.spool.depth, self.spool.path)

    def stats(self) -> SenderStats:
        """A snapshot of the counters (safe from any thread)."""
        try:
            sp = self.spool.stats()
            depth, oldest, full, age = sp.depth, sp.oldest_age_s, sp.dropped_full, sp.dropped_age
        except Exception:  # noqa: BLE001 - stats must never take the daemon down
            depth, oldest, full, age = self.spool.depth, None, 0, 0
        with self._cond:
            ledger, memory = self._window.ledger, self._memory
            return SenderStats(
                connected=self.conn.connected, reconnects=max(0, self.conn.connects - 1),
                published=ledger.published, acknowledged=ledger.acked, replayed=ledger.replayed,
                inflight=len(ledger.outstanding), depth=depth + memory.depth,
                oldest_age_s=oldest, dropped_full=full, dropped_age=age, write_errors=self._write_errors,
                memory_dropped=memory.dropped, memory_depth=memory.depth,
            )
