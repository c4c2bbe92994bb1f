"""A failure that repeats per verdict or per turn (a full disk) logs its first line, then at most one a minute.

Each later line says how many were not logged since the one before and how many there were in all, so the
log stays readable for months without hiding how often it happened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REPORT_EVERY_S = 60.0  # a failure that repeats per verdict (full disk) is logged at most this often


class LogThrottle:
    """The first event is logged, then at most one line per `interval` seconds that says how many were not."""

    def __init__(self, interval: float = REPORT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self.count = 0  # events so far, logged or not
        self._suppressed = 0
        self._next = -float("inf")
        self._lock = threading.Lock()

    def hit(self) -> int | None:
        """Count one event. None: do not log it; otherwise log it, with this many suppressed since the last line."""
        with self._lock:
            self.count += 1
            now = self.clock()
            if now < self._next:
                self._suppressed += 1
                return None
            self._next = now + self.interval
            suppressed, self._suppressed = self._suppressed, 0
            return suppressed

    def log(self, logger: logging.Logger, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        """Count one event and log `msg % args` on `logger` when the throttle lets it through."""
        suppressed = self.hit()
        if suppressed is not None:
            tail = f" ({suppressed} more since the last report, {self.count} in all)" if suppressed else ""
            logger.log(level, msg + "%s", *args, tail, exc_info=exc_info)


class KindThrottles:
    """One LogThrottle per kind of event (a refused message's kind, a dropped message's reason): a flood of one
    kind logs once a minute without hiding the first of another. Kinds are the caller's fixed names."""

    def __init__(self, interval: float = REPORT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self._by_kind: dict[str, LogThrottle] = {}
        self._lock = threading.Lock()

    def hit(self, kind: str) -> int | None:
        """Count one event of `kind`; None: do not log it, else log it (this many of the kind were not since)."""
        with self._lock:
            throttle = self._by_kind.setdefault(kind, LogThrottle(self.interval, self.clock))
        return throttle.hit()
