"""The edge node's outbox: its own spool file, and the contract's bounded memory fallback for what the file refuses.

Write before you send, as the contract's sender does (publish/sender.py), with the same memory queue
(publish/memory_fallback.py, one implementation): a verdict the file will not take (disk full, read-only, I/O
error) is held in memory (at most MEMORY_FALLBACK_LIMIT; past it the oldest is pushed out and counted in
memory_dropped), still published, and in order. Order is kept by one rule: while memory holds any verdict
(waiting or in flight) a new one queues behind it there; the sender thread moves the waiting ones into the
file as soon as it takes writes again, but only while none of them is in flight, so that a resend after a
reconnect (the file from its start, then memory) cannot overtake them. The sender sends the file's backlog
first, then memory. At stop, what is still only in memory is written to the file if it takes writes, else
counted in memory_dropped and logged by seq as LOST. An acknowledged verdict the full file cannot delete is
remembered, never sent again, and deleted once the file takes writes.
"""

from __future__ import annotations

import logging
import threading
import time

from ..publish.log_throttle import LogThrottle
from ..publish.memory_fallback import MemoryFallback, save_at_stop, seq_ranges
from ..publish.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)
FLUSH_BATCH = 32  # memory verdicts moved into the file per sender turn (the inspection thread waits on the lock)
RETRY_S = 1.0  # after the file refused a move, wait this long before trying again


class Outbox:
    """append() from the inspection thread; everything else from the sender thread (close() once it is done)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.memory = MemoryFallback()
        self.write_errors = 0  # appends the file refused (those verdicts went to memory)
        self._lock = threading.Lock()  # the memory queue, and the order of file and memory
        self._throttles = {"write": LogThrottle(), "full": LogThrottle(), "mark": LogThrottle()}
        self._next_try = 0.0
        self._undeleted: set[int] = set()  # acknowledged file entries the file could not delete yet

    def append(self, run_id: str, seq: int, payload: bytes, reject: bool) -> bool:
        """Keep one verdict; True: in the file; False: held in memory (the file refused it, or memory is ahead)."""
        error: Exception | None = None
        with self._lock:
            if not self.memory.depth:
                try:
                    self.spool.append(run_id, seq, payload, reject)
                    return True
                except Exception as exc:  # noqa: BLE001 - a full disk must not cost the verdict
                    self.write_errors += 1
                    error = exc
            lost = self.memory.add(run_id, seq, payload, reject)
            dropped = self.memory.dropped
        if error is not None:
            self._throttles["write"].log(log, logging.ERROR, "sparkplug: outbox %s write failed for seq %d (%s); "
                                         "verdict kept in memory", self.spool.path, seq, str(error)[:200])
        if lost:
            self._throttles["full"].log(log, logging.ERROR, "sparkplug: memory queue full (%d): oldest verdict "
                                        "pushed out, %d lost so far", self.memory.limit, dropped)
        return False

    def flush(self) -> list[tuple[SpoolEntry, int]]:
        """Move waiting memory verdicts into the file, oldest first, while none is in flight; (entry, new id)."""
        moved: list[tuple[SpoolEntry, int]] = []
        if time.monotonic() < self._next_try:
            return moved
        if self._undeleted:
            self._delete(sorted(self._undeleted))
        with self._lock:
            while self.memory.waiting and not self.memory.held and len(moved) < FLUSH_BATCH:
                entry = self.memory.waiting[0]
                try:
                    new_id = self.spool.append(entry.run_id, entry.seq, entry.payload, entry.reject)
                except Exception:  # noqa: BLE001 - still refused: they wait in memory, tried again later
                    self._next_try = time.monotonic() + RETRY_S
                    break
                self.memory.waiting.popleft()
                moved.append((entry, new_id))
        if moved and not self.memory.depth:
            log.warning("sparkplug: outbox %s takes writes again; the verdicts held in memory are in it",
                        self.spool.path)
        return moved

    def take(self, after_id: int, most: int) -> list[SpoolEntry]:
        """Up to `most` verdicts to send: the file's after `after_id` first, then memory's (taken out of its queue)."""
        with self._lock:  # one view: no file append can slip between the two reads
            batch = self.spool.pending(after_id=after_id, limit=most + len(self._undeleted))
            batch = [e for e in batch if e.id not in self._undeleted][:most]
            if len(batch) < most:
                batch += self.memory.take(most - len(batch))
        return batch

    def has_pending(self, after_id: int) -> bool:
        """Anything not yet sent: in the file after `after_id`, or waiting in memory."""
        with self._lock:
            if self.memory.waiting:
                return True
            rows = self.spool.pending(after_id=after_id, limit=1 + len(self._undeleted))
            return any(e.id not in self._undeleted for e in rows)

    def sent(self, entry: SpoolEntry) -> None:
        """`entry` was handed to the broker connection (a memory entry is then held until its PUBACK)."""
        if entry.id < 0:
            with self._lock:
                self.memory.held[entry.id] = entry

    def done(self, entry_id: int) -> None:
        """Acknowledged (or unreadable): deleted from the file, or forgotten by memory."""
        if entry_id > 0:
            self._delete([entry_id])
        else:
            with self._lock:
                self.memory.held.pop(entry_id, None)

    def _delete(self, ids: list[int]) -> None:
        try:
            self.spool.mark_delivered(ids)
        except Exception as exc:  # noqa: BLE001 - remembered: never sent again, deleted when the file takes writes
            with self._lock:
                self._undeleted.update(ids)
            self._next_try = time.monotonic() + RETRY_S
            self._throttles["mark"].log(log, logging.ERROR, "sparkplug: outbox %s cannot delete %d acknowledged "
                                        "verdicts (%s); retried", self.spool.path, len(ids), str(exc)[:200])
        else:
            if self._undeleted:
                with self._lock:
                    self._undeleted.difference_update(ids)

    def put_back(self, entries: list[SpoolEntry]) -> None:
        """Memory entries taken but not sent go back in front of the queue, in order."""
        with self._lock:
            self.memory.put_back(entries)

    def forget_window(self) -> None:
        """A lost or new connection: memory entries in flight go back in front of the queue, oldest first."""
        with self._lock:
            held = [self.memory.held[i] for i in sorted(self.memory.held, reverse=True)]  # -1 is the oldest
            self.memory.held.clear()
            self.memory.put_back(held)

    @property
    def depth(self) -> int:
        """Undelivered verdicts: in the file and held only in memory."""
        return self.spool.depth - len(self._undeleted) + self.memory.depth

    def close(self) -> None:
        """The sender is done: memory's verdicts into the file if it takes them, else counted and logged as LOST."""
        if self._undeleted:
            self._delete(sorted(self._undeleted))
        with self._lock:
            held, waiting = self.memory.drain()
        saved, lost, unacked = save_at_stop(self.spool, held, waiting, log)
        with self._lock:
            self.memory.dropped += len(lost) + len(unacked)
        if saved:
            log.warning("sparkplug: %d undelivered verdicts held in memory were written to the outbox at stop", saved)
        if lost:
            log.error("sparkplug: stopped with %d undelivered verdicts held only in memory: the outbox %s could not "
                      "be written, so they are LOST to Sparkplug (seq %s); the audit log still has them", len(lost),
                      self.spool.path, seq_ranges(lost))
        if unacked:
            log.error("sparkplug: stopped with %d verdicts held only in memory that were sent but never "
                      "acknowledged: the outbox %s could not be written, so they are not kept (seq %s)",
                      len(unacked), self.spool.path, seq_ranges(unacked))
        if self._undeleted:
            log.warning("sparkplug: %d acknowledged verdicts could not be deleted from the outbox %s: the next run "
                        "sends them again (duplicates, not losses)", len(self._undeleted), self.spool.path)
        if self.spool.depth > len(self._undeleted):
            log.warning("sparkplug: stopped with %d verdicts kept in the outbox %s for the next run",
                        self.spool.depth - len(self._undeleted), self.spool.path)
        self.spool.close()
