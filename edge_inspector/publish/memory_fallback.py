"""Verdicts the spool could not take (disk full, I/O error), held in memory instead: bounded, counted, saved at stop.

The memory fallback is not durable: at most MEMORY_FALLBACK_LIMIT verdicts wait here (the oldest is pushed
out and counted when it is full), and at stop whatever is still undelivered is written to the spool if it
takes writes again, and counted as lost otherwise. Memory entries get negative ids, never mixed up with spool
rows. Not thread-safe on its own: the sender calls it under its lock.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterable

from .spool import Spool, SpoolEntry

MEMORY_FALLBACK_LIMIT = 10_000  # verdicts held in memory at most (read when a fallback is made)


class MemoryFallback:
    """`waiting`: verdicts not sent yet, oldest first; `held`: sent and not yet acknowledged (saved at stop)."""

    def __init__(self) -> None:
        self.limit = MEMORY_FALLBACK_LIMIT
        self.waiting: collections.deque[SpoolEntry] = collections.deque()
        self.held: dict[int, SpoolEntry] = {}
        self.dropped = 0  # verdicts lost: pushed out of a full fallback, or still undelivered at stop
        self._next_id = -1

    def add(self, run_id: str, seq: int, payload: bytes, reject: bool) -> bool:
        """Hold one verdict; True when the fallback was full and its oldest verdict was pushed out (lost)."""
        lost = len(self.waiting) >= self.limit
        if lost:
            self.waiting.popleft()
            self.dropped += 1
        self.waiting.append(SpoolEntry(self._next_id, run_id, seq, time.time(), reject, payload))
        self._next_id -= 1
        return lost

    def take(self, most: int) -> list[SpoolEntry]:
        """Up to `most` waiting verdicts, oldest first, removed from the queue."""
        batch: list[SpoolEntry] = []
        while self.waiting and len(batch) < most:
            batch.append(self.waiting.popleft())
        return batch

    def put_back(self, entries: Iterable[SpoolEntry]) -> None:
        """The memory entries of `entries` (not tried yet) go back in front of the queue, in order."""
        self.waiting.extendleft(e for e in reversed(list(entries)) if e.id < 0)

    @property
    def depth(self) -> int:
        """Undelivered verdicts held only here (waiting or sent and unacknowledged)."""
        return len(self.waiting) + len(self.held)

    def drain(self) -> tuple[list[SpoolEntry], list[SpoolEntry]]:
        """At stop: (the held entries, newest first; the waiting ones, oldest first), both removed."""
        held = [self.held[i] for i in sorted(self.held, reverse=True)]
        waiting = list(self.waiting)
        self.held.clear()
        self.waiting.clear()
        return held, waiting


def save_at_stop(spool: Spool, held: list[SpoolEntry], waiting: list[SpoolEntry],
                 log: logging.Logger) -> tuple[int, list[int], list[int]]:
    """Write drained memory entries to the spool (it may take writes again); returns (how many were written,
    the seqs never sent that are lost, the seqs sent but never acknowledged that are not kept: the broker may
    or may not have them). The sender thread is done."""
    sent = {id(e) for e in held}
    saved, lost, unacked = 0, list[int](), list[int]()
    refused = False
    for entry in held + waiting:
        if not refused:  # once the spool refuses one it is not taking writes: do not try every other one
            try:
                spool.append(entry.run_id, entry.seq, entry.payload, entry.reject)
                saved += 1
                continue
            except Exception as exc:  # noqa: BLE001 - counted and logged by the caller
                log.error("spool %s still cannot be written at stop (%s)", spool.path, exc)
                refused = True
        (unacked if id(entry) in sent else lost).append(entry.seq)
    return saved, lost, unacked


def seq_ranges(seqs: list[int], limit: int = 20) -> str:
    """'3-7, 9, 12-15' for the log; at most `limit` ranges, then how many more."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    return text + (f" and {len(ranges) - limit} more ranges" if len(ranges) > limit else "")
