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
