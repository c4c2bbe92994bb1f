"""The image sinks' thread: annotation, evidence PNGs and the annotated video, off the inspection thread.

Encoding a camera-sized PNG takes tens of milliseconds; on the inspection thread it would delay the
next part's verdict. The inspection thread hands a job over with submit(), which never blocks: when
the bounded queue is full the job is refused (the caller counts the drop per sink) and inspection goes
on. One thread works the jobs in order, so the video keeps the frames' order. close() lets it finish
what it accepted, within a time limit; jobs still queued after that are dropped and counted too.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..types import Inspection

log = logging.getLogger(__name__)
QUEUE_LIMIT = 8  # jobs; one holds a frame and its anomaly map (about 9 MB at 1280x1024)


@dataclass(frozen=True)
class ImageJob:
    """One inspection's image work: evidence to `evidence_path` (None: no evidence), a video frame if `video`."""

    inspection: Inspection
    evidence_path: Path | None
    video: bool


class ImageWorker(threading.Thread):
    """Runs `handle(job)` for each accepted job on its own thread; `on_drop(job)` for each job it gives up on.

    handle must not raise (the sinks guard each step); an exception is logged and the worker goes on.
    """

    def __init__(self, handle: Callable[[ImageJob], None], on_drop: Callable[[ImageJob], None],
                 limit: int = QUEUE_LIMIT) -> None:
        super().__init__(name="image-sinks", daemon=True)
        if limit < 1:
            raise ValueError(f"ImageWorker.limit: expected >= 1, got {limit}")
        self._handle, self._on_drop = handle, on_drop
        self._queue: queue.Queue[ImageJob] = queue.Queue(maxsize=limit)
        self._closing = threading.Event()
        self._discard = threading.Event()
        self.accepted = self.done = self.dropped = 0  # dropped: accepted, then given up on at close()
        self._lock = threading.Lock()  # the worker and close() may both give up on jobs

    def submit(self, job: ImageJob) -> bool:
        """Queue a job without blocking; False (the job is not taken) when the queue is full or closing."""
        if self._closing.is_set():
            return False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        self.accepted += 1
        return True

    def run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            if self._discard.is_set():
                self._give_up(job)
                continue
            try:
                self._handle(job)
            except Exception:  # noqa: BLE001 - the next job must still be done
                log.exception("image sinks failed on seq %d", job.inspection.seq)
            self.done += 1

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished yet (approximately, while running)."""
        return self.accepted - self.done - self.dropped

    def close(self, timeout: float) -> bool:
        """Finish the accepted jobs within `timeout` seconds, then drop the rest; True when all were done."""
        self._closing.set()
        if not self.is_alive():  # never started: nothing will work the queue
            self._discard.set()
            self._drop_queued()
            return self.pending == 0
        self.join(timeout=max(0.0, timeout))
        if not self.is_alive():
            return True
        self._discard.set()
        left = self._queue.qsize()
        log.warning("image sinks: %d jobs not done within %.1f s of shutdown; dropped", left, timeout)
        deadline = time.monotonic() + 2.0  # the job in hand finishes (a PNG or two)
        self.join(timeout=max(0.0, deadline - time.monotonic()))
        self._drop_queued()
        return False

    def _drop_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            self._give_up(job)

    def _give_up(self, job: ImageJob) -> None:
        with self._lock:
            self.dropped += 1
        self._on_drop(job)
