"""Work that must run on the inspection thread between two frames (an uploaded image to judge with the
backend and settings in force), requested from another thread that waits for the answer."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class Busy(RuntimeError):
    """The queue is full: the caller should try again later (HTTP 429)."""


class Expired(TimeoutError):
    """The inspection thread did not reach the job in time; it was not run (HTTP 504)."""


class _Job:
    def __init__(self, fn: Callable[[], Any], expires: float) -> None:
        self.fn, self.expires = fn, expires
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class BetweenFrames:
    """call(fn) from any thread blocks until run_pending() (on the inspection thread) has run it."""

    def __init__(self, maxsize: int = 1) -> None:
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=maxsize)

    def call(self, fn: Callable[[], Any], timeout: float) -> Any:
        """fn's result (or its exception); Busy when `maxsize` jobs already wait, Expired after `timeout` s."""
        job = _Job(fn, time.monotonic() + timeout)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Busy(f"busy: {self._queue.maxsize} request(s) already waiting for the inspection thread") from None
        if not job.done.wait(timeout + 5.0) or isinstance(job.error, Expired):
            raise Expired(f"the inspection thread did not reach the request within {timeout:g} s; it was not run")
        if job.error is not None:
            raise job.error
        return job.result

    def run_pending(self) -> int:
        """Run every waiting job (inspection thread only); a job past its time is refused, not run."""
        ran = 0
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return ran
            if time.monotonic() > job.expires:
                job.error = Expired("expired")
            else:
                ran += 1
                try:
                    job.result = job.fn()
                except Exception as exc:  # noqa: BLE001 - handed to the caller; the line goes on
                    job.error = exc
            job.done.set()
