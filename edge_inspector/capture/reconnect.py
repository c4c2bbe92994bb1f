"""Reopening a live source that stalled: close it, then try to open it again after reconnect_seconds, the wait
doubling up to reconnect_max_seconds (a camera rebooting is back quickly; a dead one is not hammered)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .base import FrameSource
from .health import HealthTracker

log = logging.getLogger(__name__)


def reconnect_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before reopen attempt `attempt` + 1: base, 2 base, 4 base, ... at most cap."""
    return min(cap, base * 2.0 ** min(attempt, 30))


def reopen(source: FrameSource, health: HealthTracker, wait: Callable[[float], bool], base: float, cap: float,
           what: str) -> int | None:
    """Close `source` and reopen it with backoff until it opens: returns the attempt that opened it, or None when
    `wait` (a sleep that returns True when capture is stopping) said stop first. Failures are reported to
    `health` on every attempt and logged once per kind of failure, not once per attempt."""
    health.closed(f"closed; reopening in {base:g} s")
    try:
        source.close()
    except Exception:  # noqa: BLE001 - a broken device may fail to close; reopening is what matters
        log.exception("closing %s failed", what)
    attempt, last_error = 0, ""
    while not wait(reconnect_delay(attempt, base, cap)):
        attempt += 1
        try:
            source.open()
        except Exception as exc:  # noqa: BLE001 - keep trying; a camera may come back
            health.beat()
            error = " ".join(str(exc).split()) or repr(exc)
            health.set("reconnecting", f"reopen failed: {error} (attempt {attempt})")
            if error != last_error:  # one line per kind of failure, not one per attempt
                log.warning("%s: reopen failed: %s (retrying with backoff %g..%g s)", what, error, base, cap)
            last_error = error
            continue
        return attempt
    return None
