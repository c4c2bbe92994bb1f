"""Encoder mode's firing thread: poll the belt's counter every `poll_ms`, fire each part when the belt has reached
its firing count, switch the output off `pulse_ms` later.

One thread does both, in this order on every poll: read the counter, record the sample in the position ring
(which places later capture times on the belt), fire every part whose count the belt has reached. A belt that
stops fires nothing; a faster or slower belt moves the pulses with it. The firing error is measured in counts
(position at the read that fired it minus its firing count: at most what the belt moves in one poll).

Encoder outage (reads fail, or none succeeds for `stale_ms`): nothing fires, the status says `encoder.state:
error`, the failures are counted and logged (one line a minute). Parts planned before the outage keep their
firing counts (a remote-I/O counter keeps counting in hardware while the network is down). At the first good
read after it, a part whose count was passed by at most `catch_up_counts` fires at once (`late_fired`); a part
further past is not fired, it is beyond the ejector and a pulse now would hit another part (`missed_outage`,
logged as an error). Parts captured during the outage cannot be placed on the belt (`counts.no_position`).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from collections.abc import Callable

from ..publish.log_throttle import LogThrottle
from .config import Encoder
from .encoder import CounterReader, EncoderError, PositionRing
from .firing import JITTER_WINDOW, MAX_QUEUED, Firing
from .outputs import Output
from .planner import Planned, Planner
from .status import percentiles

log = logging.getLogger(__name__)


class CountFiring(Firing):
    """Firing's interface (start, schedule, stop, the output's counters) with belt counts instead of times."""

    def __init__(self, planner: Planner, output: Output, pulse_s: float, encoder: CounterReader,
                 ring: PositionRing, cfg: Encoder,
                 on_fire: Callable[[str, float, float], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(planner, output, pulse_s, on_fire)
        self.encoder, self.ring, self.enc, self.clock = encoder, ring, cfg, clock  # clock: epoch s
        self._counts: list[tuple[float, int]] = []  # (firing count, token), a heap
        self.reads = self.read_errors = self.late_fired = self.missed_outage = self.outages = 0
        self.encoder_error: str | None = None
        self.error_counts: deque[float] = deque(maxlen=JITTER_WINDOW)  # position fired at - firing count
        self._throttle = LogThrottle()

    def schedule(self, planned: list[Planned]) -> None:
        with self._cond:
            for p in planned:
                if len(self._counts) >= MAX_QUEUED:
                    self.overflow += 1
                    self.planner.drop(p.token)
                    continue
                heapq.heappush(self._counts, (p.at, p.token))

    def queued(self) -> int:
        with self._cond:
            return len(self._counts)

    def _loop(self) -> None:
        period = self.enc.poll_ms / 1000.0
        next_poll = time.monotonic()
        while True:
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    due = min(next_poll, self._off_due) if self._off_due is not None else next_poll
                    if due <= now:
                        break
                    self._cond.wait(timeout=due - now)
                if self._stop:
                    break
            now = time.monotonic()
            if self._off_due is not None and self._off_due <= now:
                self._off_due = None
                self._write(False)
            if next_poll <= now:
                # a stalled thread polls once and goes on from now, rather than catching up in a burst
                next_poll = max(next_poll + period, now)
                self._poll()
        if self._off_due is not None:  # never leave the valve open at exit
            self._write(False)
        self.encoder.close()

    def _poll(self) -> None:
        t0 = self.clock()
        try:
            raw = self.encoder.read()
        except Exception as exc:  # noqa: BLE001 - EncoderError, or a library's surprise: never kill this thread
            if not isinstance(exc, EncoderError):
                exc = EncoderError(f"encoder {self.encoder.describe()}: {type(exc).__name__}: {exc}")
            self.read_errors += 1
            self.encoder_error = str(exc)[:300]
            suppressed = self._throttle.hit()
            if suppressed is not None:
                log.error("encoder read failed (%d so far, %d not logged): %s", self.read_errors, suppressed,
                          self.encoder_error)
            return
        t1 = self.clock()
        self.reads += 1
        self.encoder_error = None
        pos, joined = self.ring.add((t0 + t1) / 2, raw)
        if not joined and self.reads > 1:
            self.outages += 1
            log.warning("encoder read again after an outage; position %d", pos)
        with self._cond:
            due = []
            while self._counts and self._counts[0][0] <= pos:
                due.append(heapq.heappop(self._counts))
        for target, token in due:
            if not joined and pos - target > self.enc.catch_up_counts:
                what = self.planner.forfeit(token)
                if what is not None:
                    self.missed_outage += 1
                    log.error("not fired: %s passed the ejector while the encoder could not be read (firing count "
                              "%.0f, belt at %d)", what, target, pos)
                continue
            if self._fire_count(token, target, pos, t1) and not joined:
                self.late_fired += 1

    def _fire_count(self, token: int, target: float, pos: int, read_at: float) -> bool:
        what = self.planner.take(token)
        if what is None:
            return False  # cancelled: a PASS arrived before the belt got there
        rising = self._off_due is None
        self._off_due = time.monotonic() + self.pulse_s
        if rising:
            self.edges += 1
            self._write(True)
        self.error_counts.append(pos - target)
        self.jitter_ms.append((self.clock() - read_at) * 1000.0)
        if self.on_fire is not None:
            self.on_fire(what, target, float(pos))
        return True

    def detail(self) -> dict[str, object]:
        """The status's `encoder` object."""
        here = self.ring.here(self.clock())
        newest = self.ring.newest()
        return {"source": self.encoder.describe(),
                "state": "ok" if here is not None else "error", "position": newest[1] if newest else None,
                "counts_to_ejector": self.enc.counts_to_ejector, "reads": self.reads,
                "read_errors": self.read_errors, "last_error": self.encoder_error, "outages": self.outages,
                "late_fired": self.late_fired, "missed_outage": self.missed_outage, "waiting": self.queued(),
                "error_counts": percentiles(list(self.error_counts))}


def log_fired_count(what: str, target: float, position: float) -> None:
    """The log line of one pulse (the same shape as delay mode's, in counts)."""
    log.info("fired %s planned %.1f written %.0f (%+.0f counts)", what, target, position, position - target)
