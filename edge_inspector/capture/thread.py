"""The capture thread: reads a source into a bounded queue, numbering every frame.

Live sources (and file replay with realtime pacing) never block on a full queue: the frame is dropped,
counted and handed to the consumer as a DroppedFrame so it becomes a FAULT verdict. File replay with
fastest pacing waits for queue space instead (nothing is lost), checking the stop event as it waits.

Every decoded image is converted by convert.to_bgr8; one it cannot convert (or any error building the
Frame) becomes a DroppedFrame of kind "unsupported" and capture goes on. A failed read of a live source is
not a frame: it is counted, never dropped. After max_consecutive_failures failed reads in a row, or no frame
for stall_seconds, the live source is closed and reopened until it works (reconnect.py).
health() tells the state (see health.CaptureHealth); the numbering, the counters and the seal at stop are
frame_ledger.py's.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable

from ..types import DroppedFrame, Frame
from .base import FrameSource, ReadResult
from .convert import BIT_DEPTHS, UnsupportedFrame, to_bgr8
from .frame_ledger import CaptureStats, FrameLedger
from .health import CaptureHealth, HealthTracker
from .reconnect import reopen

log = logging.getLogger(__name__)


class _EndOfStream:
    def __repr__(self) -> str:
        return "END_OF_STREAM"


END_OF_STREAM = _EndOfStream()  # put into the queue once the source is exhausted (or the thread failed)


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
        on_numbered: Callable[[Frame], None] | None = None,
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
        self._ledger = FrameLedger(self._what)
        self._build_error_logged = False
        # Told of every frame the moment it is numbered, before it is queued (the daemon's capture notice); an
        # error there is counted, logged the 1st, 10th, 100th... time, and never stops capture.
        self.on_numbered = on_numbered
        self.numbered_failures = 0

    def take_dropped(self) -> list[DroppedFrame]:
        """Hand over (and forget) the frames dropped since the last call, in seq order."""
        return self._ledger.take_dropped()

    def stats(self) -> CaptureStats:
        return self._ledger.stats(self._health.check())

    def health(self) -> CaptureHealth:
        """The capture's state now; works while the loop is stuck inside a read."""
        return self._health.snapshot()

    def next_seq(self) -> int:
        """Reserve the next sequence number (thread-safe): a FAULT for a part that has no frame (a trigger
        whose window passed) takes its place in the sequence like a dropped frame."""
        return self._ledger.next_seq()

    def seal(self, timeout: float = 1.0) -> None:
        """Number no more reads (call when stopping, before draining the queue): returns once a read being
        numbered now is handed over; reads that return later are counted as late and logged, not numbered."""
        self._ledger.seal(timeout)

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
                self._ledger.count(read_failures=1)
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

    def _build(self, result: ReadResult, seq: int) -> Frame | None:
        """The Frame for one read, or None after dropping it: no frame's content may end capture."""
        try:
            if result.image is None:
                raise UnsupportedFrame("expected an image, the source returned none")
            image = to_bgr8(result.image, self.bit_depth)
            return Frame(seq, time.time(), time.monotonic(), image, result.source_index, result.name)
        except UnsupportedFrame as exc:
            self._ledger.drop(result, f"unsupported frame: {exc}", "unsupported", seq=seq)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the line
            if not self._build_error_logged:  # the traceback once; every drop still gets its line
                log.exception("cannot build frame %d (%s)", seq, result.name)
                self._build_error_logged = True
            self._ledger.drop(result, f"unsupported frame: cannot build it: {exc!r}", "unsupported", seq=seq)
        return None

    def _hand_over(self, result: ReadResult) -> None:
        with self._ledger.handing_over() as open_:
            if not open_:
                log.warning("frame %s from %s read after the daemon stopped taking frames: not numbered, "
                            "no verdict", result.name, self._what)
            elif result.kind == "unreadable":
                self._ledger.drop(result, f"unreadable: {result.reason}", "unreadable")
            else:
                self._deliver(result)

    def _deliver(self, result: ReadResult) -> None:
        seq = self._ledger.next_seq()
        frame = self._build(result, seq)
        if frame is None:
            return
        self._ledger.count(read=1)
        if self.on_numbered is not None:
            try:
                self.on_numbered(frame)
            except Exception as exc:  # noqa: BLE001 - a notice that cannot be sent must not cost the frame
                self.numbered_failures += 1
                if math.log10(self.numbered_failures).is_integer():
                    log.warning("frame %d: the numbered-frame hook failed (%d times so far): %r", seq,
                                self.numbered_failures, exc)
        if self.realtime:
            try:
                self.queue.put_nowait(frame)
            except queue.Full:
                self._ledger.drop(result, "queue full (scorer slower than the source)", "queue_full", seq=seq)
                return
        elif not self._put_blocking(frame):
            self.unqueued = frame  # numbered but stopped before it fit: the consumer still judges it
            return
        self._ledger.count(queued=1)

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
        """Close the source and reopen it, with backoff, until it opens or capture stops."""
        attempt = reopen(self.source, self._health, self._wait, self.reconnect_seconds, self.reconnect_max_seconds,
                         self._what)
        if attempt is None:
            return
        self._ledger.count(reconnects=1)
        self._health.opened(f"reopened after {attempt} attempt(s), waiting for a frame")
        log.info("%s: reopened after %d attempt(s)", self._what, attempt)
