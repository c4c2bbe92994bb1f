"""The capture thread: reads a source into a bounded queue, numbering every frame.

Live sources (and file replay with realtime pacing) never block on a full queue: the frame is dropped,
counted and handed to the consumer as a DroppedFrame so it becomes a FAULT verdict. File replay with
fastest pacing waits for queue space instead (nothing is lost), checking the stop event as it waits.

Every decoded image is converted by convert.to_bgr8; one it cannot convert (or any error building the
Frame) becomes a DroppedFrame of kind "unsupported" and capture goes on. A failed read of a live source is
not a frame: it is counted, never dropped. After max_consecutive_failures failed reads in a row, or no frame
for stall_seconds, the live source is closed and reopened until it works: after reconnect_seconds, then
with the wait doubling up to reconnect_max_seconds (a camera rebooting is back quickly; a dead one is not
hammered).
health() tells the state (see health.CaptureHealth).

At stop the consumer calls seal() before it drains the queue: a frame already numbered is handed over
(queue, `unqueued` or the dropped list) before seal() returns, and a read that returns later (a source
still inside read() when the daemon stopped) is not numbered, only counted in `late` and logged, so that
every numbered frame gets exactly one verdict.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from ..types import DroppedFrame, Frame
from .base import FrameSource, ReadResult
from .convert import BIT_DEPTHS, UnsupportedFrame, to_bgr8
from .health import CaptureHealth, HealthTracker

log = logging.getLogger(__name__)


class _EndOfStream:
    def __repr__(self) -> str:
        return "END_OF_STREAM"


END_OF_STREAM = _EndOfStream()  # put into the queue once the source is exhausted (or the thread failed)


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



def reconnect_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before reopen attempt `attempt` + 1: base, 2 base, 4 base, ... at most cap."""
    return min(cap, base * 2.0 ** min(attempt, 30))

class CaptureThread(threading.Thread):
    """Reads `source` until it ends or `stop_event` is set. Every get/put has a timeout.

    stall_seconds: a live source with no frame for this long is "stalled" and reopened; with idle_ok it is
    "idle" instead and left open (failed reads still count towards a reopen). bit_depth: significant bits
    of 16-bit frames (convert.to_bgr8). State changes are logged once each, never once per failed read.
    """

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
        reconnect_max_seconds: float = 30.0,
        stall_seconds: float = 10.0,
        idle_ok: bool = False,
        bit_depth: int = 16,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        if bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit_depth: expected 8..16, got {bit_depth}")
        self.source, self.queue, self.stop_event = source, out_queue, stop_event
        self.realtime = source.live or pacing == "realtime"
        self.interval = 1.0 / fps if fps else (1.0 / source.fps if source.fps else 0.0)
        self.max_failures, self.reconnect_seconds = max(1, max_consecutive_failures), reconnect_seconds
        self.reconnect_max_seconds = max(reconnect_seconds, reconnect_max_seconds)
        self.bit_depth = bit_depth
        self.error: BaseException | None = None
        self.unqueued: Frame | None = None  # set at most once, when stopping
        self._what = source.describe()
        self._health = HealthTracker(self._what, source.live, stall_seconds, idle_ok)
        self._lock = threading.Lock()
        # held from numbering a read until it is handed over; seal() takes it, so nothing is numbered and lost
        self._handover = threading.Lock()
        self._sealed = False
        self._late = 0
        self._dropped: list[DroppedFrame] = []
        self._seq = 0
        self._read = self._queued = self._full = self._unreadable = self._reconnects = 0
        self._read_failures = self._unsupported = 0
        self._build_error_logged = False
        self._t0 = time.monotonic()

    def take_dropped(self) -> list[DroppedFrame]:
        """Hand over (and forget) the frames dropped since the last call, in seq order."""
        with self._lock:
            dropped, self._dropped = self._dropped, []
        return dropped

    def stats(self) -> CaptureStats:
        state = self._health.check()
        with self._lock:
            elapsed = max(1e-9, time.monotonic() - self._t0)
            return CaptureStats(self._read, self._queued, self._full, self._unreadable, self._reconnects,
                                self._read / elapsed, self._read_failures, self._unsupported, state, self._late)

    def health(self) -> CaptureHealth:
        """The capture's state now; works while the loop is stuck inside a read."""
        return self._health.snapshot()

    def run(self) -> None:
        try:
            why = self._capture_loop()
            self._health.set("ended", why)
        except BaseException as exc:  # noqa: BLE001 - reported to the consumer, never silently lost
            log.exception("capture thread failed on %s", self._what)
            self.error = exc
            self._health.set("failed", f"capture thread failed: {exc!r}")
        finally:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 - the end marker below must still be delivered
                log.exception("closing %s failed", self._what)
            if not self.stop_event.is_set():
                self._put_blocking(END_OF_STREAM)

    def _capture_loop(self) -> str:
        next_due = time.monotonic()
        failures = 0
        while not self.stop_event.is_set():
            if self.realtime and self.interval > 0 and not self.source.live:
                next_due += self.interval  # a file behaving like a camera: frames arrive on a clock
                delay = next_due - time.monotonic()
                if delay > 0 and self._wait(delay):
                    break
            result = self._read_source()
            self._health.beat()
            if result.kind == "end":
                return "source exhausted"
            if result.kind == "idle":  # a triggered camera waiting for its next part: alive, not failing
                continue
            if result.kind == "failed":  # nothing came: not a frame, so never a FAULT
                failures += 1
                with self._lock:
                    self._read_failures += 1
                if failures >= self.max_failures:
                    self._health.set("stalled", f"{failures} failed reads in a row ({result.reason})")
            else:
                failures = 0
                self._health.frame()
                self._hand_over(result)
            if self._health.check() == "stalled":
                self._reconnect()
                failures = 0
        return "stopped"

    def _read_source(self) -> ReadResult:
        try:
            return self.source.read()
        except Exception as exc:
            if not self.source.live:
                raise  # a file that raises may not be able to go on: the consumer sees the error
            return ReadResult("failed", reason=f"read raised {exc!r}")

    def _wait(self, seconds: float) -> bool:
        """Sleep, staying responsive to the stop event and beating the heartbeat; True when stopping."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop_event.wait(min(left, 0.25)):
                return True
            self._health.beat()
        return self.stop_event.is_set()

    def next_seq(self) -> int:
        """Reserve the next sequence number (thread-safe): a FAULT for a part that has no frame (a trigger
        whose window passed) takes its place in the sequence like a dropped frame."""
        return self._next_seq()

    def _next_seq(self) -> int:
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
        return seq

    def _drop(self, result: ReadResult, reason: str, kind: str, seq: int | None = None) -> None:
        now = time.time(), time.monotonic()
        seq = self._next_seq() if seq is None else seq
        with self._lock:
            self._dropped.append(DroppedFrame(seq, now[0], now[1], result.source_index, result.name, reason, kind))
            if kind == "unreadable":
                self._unreadable += 1
            elif kind == "unsupported":
                self._unsupported += 1
            else:
                self._full += 1
        log.warning("frame %d (%s) not inspected: %s", seq, result.name, reason)

    def _build(self, result: ReadResult, seq: int) -> Frame | None:
        """The Frame for one read, or None after dropping it: no frame's content may end capture."""
        try:
            if result.image is None:
                raise UnsupportedFrame("expected an image, the source returned none")
            image = to_bgr8(result.image, self.bit_depth)
            return Frame(seq, time.time(), time.monotonic(), image, result.source_index, result.name)
        except UnsupportedFrame as exc:
            self._drop(result, f"unsupported frame: {exc}", "unsupported", seq=seq)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the line
            if not self._build_error_logged:  # the traceback once; every drop still gets its line
                log.exception("cannot build frame %d (%s)", seq, result.name)
                self._build_error_logged = True
            self._drop(result, f"unsupported frame: cannot build it: {exc!r}", "unsupported", seq=seq)
        return None

    def seal(self, timeout: float = 1.0) -> None:
        """Number no more reads (call when stopping, before draining the queue): returns once a read being
        numbered now is handed over; reads that return later are counted as late and logged, not numbered."""
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

    def _hand_over(self, result: ReadResult) -> None:
        with self._handover:
            if self._sealed:
                with self._lock:
                    self._late += 1
                log.warning("frame %s from %s read after the daemon stopped taking frames: not numbered, "
                            "no verdict", result.name, self._what)
            elif result.kind == "unreadable":
                self._drop(result, f"unreadable: {result.reason}", "unreadable")
            else:
                self._deliver(result)

    def _deliver(self, result: ReadResult) -> None:
        seq = self._next_seq()
        frame = self._build(result, seq)
        if frame is None:
            return
        with self._lock:
            self._read += 1
        if self.realtime:
            try:
                self.queue.put_nowait(frame)
            except queue.Full:
                self._drop(result, "queue full (scorer slower than the source)", "queue_full", seq=seq)
                return
        elif not self._put_blocking(frame):
            self.unqueued = frame  # numbered but stopped before it fit: the consumer still judges it
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
                self._health.beat()

    def _reconnect(self) -> None:
        """Close the source and reopen it, with backoff (reconnect_delay), until it opens or capture stops."""
        self._health.closed(f"closed; reopening in {self.reconnect_seconds:g} s")
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - a broken device may fail to close; reopening is what matters
            log.exception("closing %s failed", self._what)
        attempt, last_error = 0, ""
        while not self._wait(reconnect_delay(attempt, self.reconnect_seconds, self.reconnect_max_seconds)):
            attempt += 1
            try:
                self.source.open()
            except Exception as exc:  # noqa: BLE001 - keep trying; a camera may come back
                self._health.beat()
                error = " ".join(str(exc).split()) or repr(exc)
                self._health.set("reconnecting", f"reopen failed: {error} (attempt {attempt})")
                if error != last_error:  # one line per kind of failure, not one per attempt
                    log.warning("%s: reopen failed: %s (retrying with backoff %g..%g s)", self._what, error,
                                self.reconnect_seconds, self.reconnect_max_seconds)
                last_error = error
                continue
            with self._lock:
                self._reconnects += 1
            self._health.opened(f"reopened after {attempt} attempt(s), waiting for a frame")
            log.info("%s: reopened after %d attempt(s)", self._what, attempt)
            return
