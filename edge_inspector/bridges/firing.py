"""The firing thread: pulses at their planned times, the output switched on and off, the error measured.

Planned times are epoch seconds (the station's `captured_ts` plus the delay); each is converted to the
monotonic clock when it is queued, so a wall-clock step after that does not move it. Pulses that overlap
keep the output on until the last one ends (one rising edge, but every planned part counts as fired).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from .outputs import Output, OutputError
from .planner import Planned, Planner

log = logging.getLogger(__name__)
JITTER_WINDOW = 4096  # recent (write time - planned time) samples kept for the status percentiles
MAX_QUEUED = 100_000  # planned pulses waiting; past it new ones are refused and counted (a flood of verdicts)


class Firing:
    """One thread; schedule() is called from the MQTT thread."""

    def __init__(self, planner: Planner, output: Output, pulse_s: float,
                 on_fire: Callable[[str, float, float], None] | None = None) -> None:
        self.planner, self.output, self.pulse_s, self.on_fire = planner, output, pulse_s, on_fire
        self._heap: list[tuple[float, int, float]] = []  # (monotonic due, token, planned epoch time)
        self._cond = threading.Condition()
        self._stop = False
        self._off_due: float | None = None
        self.jitter_ms: deque[float] = deque(maxlen=JITTER_WINDOW)
        self.output_errors = 0
        self.overflow = 0
        self.last_error: str | None = None
        self.edges = 0  # rising edges written
        self._thread = threading.Thread(target=self._loop, name="reject-firing", daemon=True)

    def start(self) -> Firing:
        self._thread.start()
        return self

    def schedule(self, planned: list[Planned]) -> None:
        mono, wall = time.monotonic(), time.time()
        with self._cond:
            for p in planned:
                if len(self._heap) >= MAX_QUEUED:
                    self.overflow += 1
                    self.planner.drop(p.token)
                    continue
                heapq.heappush(self._heap, (mono + (p.at - wall), p.token, p.at))
            self._cond.notify()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    due = [t for t in (self._heap[0][0] if self._heap else None, self._off_due) if t is not None]
                    if due and min(due) <= now:
                        break
                    self._cond.wait(timeout=(min(due) - now) if due else 1.0)
                if self._stop:
                    break
                now = time.monotonic()
                fire = heapq.heappop(self._heap) if self._heap and self._heap[0][0] <= now else None
                switch_off = fire is None and self._off_due is not None and self._off_due <= now
            if fire is not None:
                self._fire(fire[1], fire[2])
            elif switch_off:
                self._off_due = None
                self._write(False)
        if self._off_due is not None:  # never leave the valve open at exit
            self._write(False)

    def _fire(self, token: int, planned_at: float) -> None:
        what = self.planner.take(token)
        if what is None:
            return  # cancelled: a PASS for a triggered part arrived in time
        rising = self._off_due is None
        self._off_due = time.monotonic() + self.pulse_s
        written = time.time()
        if rising:
            self.edges += 1
            self._write(True)
        self.jitter_ms.append((written - planned_at) * 1000.0)
        if self.on_fire is not None:
            self.on_fire(what, planned_at, written)

    def _write(self, on: bool) -> None:
        try:
            self.output.set(on)
        except OutputError as exc:
            self.output_errors += 1
            if self.last_error is None or self.output_errors % 100 == 1:
                log.error("reject output write failed (%d so far): %s", self.output_errors, exc)
            self.last_error = str(exc)[:300]
        else:
            self.last_error = None

    def queued(self) -> int:
        with self._cond:
            return len(self._heap)
