"""The capture's books: sequence numbers, counters, frames dropped before inspection, and the seal at stop.

One lock guards them, so stats() and take_dropped() work from any thread while the capture loop runs. At stop the
consumer seals the ledger before it drains the queue: a read being numbered now is handed over before seal()
returns, and a read that returns later is not numbered, only counted as late, so that every numbered frame gets
exactly one verdict.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..types import DroppedFrame
from .base import ReadResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureStats:
    """Counters since the thread started (frames_read: frames built; read_failures: live reads that got nothing)."""

    frames_read: int
    frames_queued: int
    dropped_queue_full: int
    unreadable: int
    reconnects: int
    fps_measured: float
    read_failures: int
    unsupported: int
    state: str
    late: int = 0  # frames read after seal() (the daemon had stopped): not numbered, no verdict


class FrameLedger:
    """Numbers frames and counts what happened to them, for one capture (`what` names it in log lines)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()
        # held from numbering a read until it is handed over; seal() takes it, so nothing is numbered and lost
        self._handover = threading.Lock()
        self._sealed = False
        self._late = 0
        self._dropped: list[DroppedFrame] = []
        self._seq = 0
        self._read = self._queued = self._full = self._unreadable = self._reconnects = 0
        self._read_failures = self._unsupported = 0
        self._t0 = time.monotonic()

    def next_seq(self) -> int:
        """Reserve the next sequence number (thread-safe)."""
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
        return seq

    def drop(self, result: ReadResult, reason: str, kind: str, seq: int | None = None) -> None:
        """Record a frame that will not be inspected (kind unreadable, unsupported or queue_full) for the
        consumer to turn into a FAULT; numbered now unless `seq` was reserved already."""
        now = time.time(), time.monotonic()
        seq = self.next_seq() if seq is None else seq
        with self._lock:
            self._dropped.append(DroppedFrame(seq, now[0], now[1], result.source_index, result.name, reason, kind))
            if kind == "unreadable":
                self._unreadable += 1
            elif kind == "unsupported":
                self._unsupported += 1
            else:
                self._full += 1
        log.warning("frame %d (%s) not inspected: %s", seq, result.name, reason)

    def take_dropped(self) -> list[DroppedFrame]:
        """Hand over (and forget) the frames dropped since the last call, in seq order."""
        with self._lock:
            dropped, self._dropped = self._dropped, []
        return dropped

    def count(self, *, read: int = 0, queued: int = 0, read_failures: int = 0, reconnects: int = 0) -> None:
        """Add to the counters (frames built, frames queued, live reads that got nothing, reopens)."""
        with self._lock:
            self._read += read
            self._queued += queued
            self._read_failures += read_failures
            self._reconnects += reconnects

    def stats(self, state: str) -> CaptureStats:
        """The counters now, with the capture's `state`."""
        with self._lock:
            elapsed = max(1e-9, time.monotonic() - self._t0)
            return CaptureStats(self._read, self._queued, self._full, self._unreadable, self._reconnects,
                                self._read / elapsed, self._read_failures, self._unsupported, state, self._late)

    @contextlib.contextmanager
    def handing_over(self) -> Iterator[bool]:
        """Held while one read is numbered and handed over: yields True, or False once sealed (the read is
        then counted as late and must not be numbered)."""
        with self._handover:
            if self._sealed:
                with self._lock:
                    self._late += 1
                yield False
            else:
                yield True

    def seal(self, timeout: float = 1.0) -> None:
        """Number no more reads: returns once a read being numbered now is handed over (or after `timeout`,
        with a warning that the frame may get no verdict)."""
        got = self._handover.acquire(timeout=timeout)
        try:
            with self._lock:
                self._sealed = True
        finally:
            if got:
                self._handover.release()
        if not got:
            log.warning("%s: a frame was still being handed over %g s after the stop; it may get no verdict",
                        self._what, timeout)
