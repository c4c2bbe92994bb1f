"""The capture thread: reads a source into a bounded queue, numbering every frame.

Live sources (and file replay with realtime pacing) never block on a full queue: the frame is dropped,
counted and handed to the consumer as a DroppedFrame so it becomes a FAULT verdict. File replay with
fastest pacing waits for queue space instead (nothing is lost), checking the stop event as it waits.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from ..types import DroppedFrame, Frame
from .sources import FrameSource, ReadResult

log = logging.getLogger(__name__)


class _EndOfStream:
    def __repr__(self) -> str:
        return "END_OF_STREAM"


END_OF_STREAM = _EndOfStream()  # put into the queue once the source is exhausted (or the thread failed)


@dataclass(frozen=True)
class CaptureStats:
    """Counters since the thread started."""

    frames_read: int
    frames_queued: int
    dropped_queue_full: int
    unreadable: int
    reconnects: int
    fps_measured: float


class CaptureThread(threading.Thread):
    """Reads `source` until it ends or `stop_event` is set. Every get/put has a timeout."""

    def __init__(
        self,
        source: FrameSource,
        out_queue: queue.Queue[object],
        stop_event: threading.Event,
        *,
        pacing: str = "fastest",
        fps: float | None = None,
        max_consecutive_failures: int = 50,
        reconnect_seconds: float = 2.0,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source, self.queue, self.stop_event = source, out_queue, stop_event
        self.realtime = source.live or pacing == "realtime"
        self.interval = 1.0 / fps if fps else (1.0 / source.fps if source.fps else 0.0)
        self.max_failures, self.reconnect_seconds = max_consecutive_failures, reconnect_seconds
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._dropped: list[DroppedFrame] = []
        self._seq = 0
        self._read = self._queued = self._full = self._unreadable = self._reconnects = 0
        self._t0 = time.monotonic()

    def take_dropped(self) -> list[DroppedFrame]:
        """Hand over (and forget) the frames dropped since the last call, in seq order."""
        with self._lock:
            dropped, self._dropped = self._dropped, []
        return dropped

    def stats(self) -> CaptureStats:
        with self._lock:
            elapsed = max(1e-9, time.monotonic() - self._t0)
            return CaptureStats(self._read, self._queued, self._full, self._unreadable, self._reconnects,
                                self._read / elapsed)

    def run(self) -> None:
        try:
            self._capture_loop()
        except BaseException as exc:  # noqa: BLE001 - reported to the consumer, never silently lost
            log.exception("capture thread failed on %s", self.source.describe())
            self.error = exc
        finally:
            self.source.close()
            if not self.stop_event.is_set():
                self._put_blocking(END_OF_STREAM)

    def _capture_loop(self) -> None:
        next_due = time.monotonic()
        failures = 0
        while not self.stop_event.is_set():
            if self.realtime and self.interval > 0 and not self.source.live:
                next_due += self.interval  # a file behaving like a camera: frames arrive on a clock
                delay = next_due - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    return
            result = self.source.read()
            if result.kind == "end":
                return
            if result.kind == "unreadable":
                failures += 1
                self._drop(result, f"unreadable: {result.reason}", unreadable=True)
                if self.source.live and failures >= self.max_failures:
                    self._reopen()
                    failures = 0
                continue
            failures = 0
            self._deliver(result)

    def _next_seq(self) -> int:
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
        return seq

    def _drop(self, result: ReadResult, reason: str, unreadable: bool = False, seq: int | None = None) -> None:
        now = time.time(), time.monotonic()
        seq = self._next_seq() if seq is None else seq
        with self._lock:
            self._dropped.append(DroppedFrame(seq, now[0], now[1], result.source_index, result.name, reason))
            if unreadable:
                self._unreadable += 1
            else:
                self._full += 1
        log.warning("frame %d (%s) not inspected: %s", seq, result.name, reason)

    def _deliver(self, result: ReadResult) -> None:
        assert result.image is not None
        seq = self._next_seq()
        frame = Frame(seq, time.time(), time.monotonic(), result.image, result.source_index, result.name)
        with self._lock:
            self._read += 1
        if self.realtime:
            try:
                self.queue.put_nowait(frame)
            except queue.Full:
                self._drop(result, "queue full (scorer slower than the source)", seq=seq)
                return
        elif not self._put_blocking(frame):
            return
        with self._lock:
            self._queued += 1

    def _put_blocking(self, item: object) -> bool:
        """Wait for queue space, but give up when stopping. END_OF_STREAM is always delivered."""
        while True:
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self.stop_event.is_set():
                    return False

    def _reopen(self) -> None:
        log.error("%s: too many failed reads, reopening in %.1f s", self.source.describe(), self.reconnect_seconds)
        self.source.close()
        while not self.stop_event.wait(self.reconnect_seconds):
            try:
                self.source.open()
                with self._lock:
                    self._reconnects += 1
                return
            except Exception as exc:  # noqa: BLE001 - keep trying; a camera may come back
                log.error("reopen failed: %s", exc)
