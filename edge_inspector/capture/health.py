"""Capture health: what the capture loop is doing, worked out from timestamps.

The state is kept from timestamps rather than by the loop alone, so a read() that never returns is still
seen: health() finds the last frame older than stall_seconds and reports "stalled" while the loop is stuck,
and heartbeat_age keeps growing. Every state change is logged once, by whichever thread notices it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..config.redact import cap_text, redact

log = logging.getLogger(__name__)

STATES = ("starting", "running", "stalled", "reconnecting", "idle", "ended", "failed")
_LEVELS = {"stalled": logging.WARNING, "reconnecting": logging.WARNING, "failed": logging.ERROR,
           "idle": logging.DEBUG}  # idle <-> running happens once per part on a triggered line
_TIMED = ("stalled", "idle")
MAX_DETAIL = 500  # characters of a detail (an exception text can be long)


def _clean(text: str) -> str:
    # The detail goes to the retained MQTT status, /api/state and /healthz, which no log filter sees: a stream
    # URL's password (in describe() or an OpenCV error) is masked here, once, for all of them.
    return cap_text(redact(text), MAX_DETAIL)


@dataclass(frozen=True)
class CaptureHealth:
    """The capture's state now (CaptureThread.health()).

    state: "starting" (no frame yet), "running", "stalled" (a live source sent no frame for stall_seconds,
    or max_consecutive_failures reads failed in a row), "reconnecting" (closed and reopening, or reopened
    and waiting for its first frame), "idle" (idle_ok: no frame for stall_seconds, not a fault), "ended"
    (a finite source is exhausted, or the thread was stopped) or "failed" (the thread died).
    since: time.time() of the last state change.
    detail: one line, e.g. "no frame for 10.2 s" or "reopen failed: cannot open stream http://...".
    last_frame_age: seconds (monotonic) since the source last delivered a frame; None before the first.
    heartbeat_age: seconds since the loop last came back from the source (a read returned, a reopen attempt
    ended) or last waited outside it (for queue space, pacing, the reconnect delay). It grows only while a
    source call hangs (or after the thread ended): a watchdog should stop being pinged when it is large.
    """

    state: str
    since: float
    detail: str
    last_frame_age: float | None
    heartbeat_age: float


class HealthTracker:
    """Thread-safe state of one capture loop; the loop reports events, any thread may ask for a snapshot."""

    def __init__(self, what: str, live: bool, stall_seconds: float, idle_ok: bool) -> None:
        self.what, self.live, self.stall_seconds, self.idle_ok = _clean(what), live, stall_seconds, idle_ok
        self._lock = threading.Lock()
        now = time.monotonic()
        self._state, self._since = "starting", time.time()
        self._detail = f"waiting for the first frame from {self.what}"
        self._last_frame: float | None = None
        self._waiting_since = now  # the last frame, or the (re)open after which none came yet
        self._watching = True  # the source is open and should deliver: only then can it stall
        self._timed = False  # the state came from the clock: its detail shows the current age
        self._beat = now

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def beat(self) -> None:
        """The loop is alive and outside any source call."""
        with self._lock:
            self._beat = time.monotonic()

    def frame(self) -> None:
        """The source delivered a frame."""
        with self._lock:
            self._last_frame = self._waiting_since = self._beat = time.monotonic()
            self._watching = True
            changed = self._enter("running", "frames arriving")
        self._log(changed, "running", "frames arriving")

    def opened(self, detail: str) -> None:
        """The source was (re)opened: a stall is measured from now."""
        detail = _clean(detail)
        with self._lock:
            self._waiting_since = self._beat = time.monotonic()
            self._watching = True
            changed = self._enter("reconnecting", detail)
        self._log(changed, "reconnecting", detail)

    def closed(self, detail: str) -> None:
        """The source was closed to be reopened: no stall can be measured until it is open again."""
        detail = _clean(detail)
        with self._lock:
            self._watching = False
            changed = self._enter("reconnecting", detail)
        self._log(changed, "reconnecting", detail)

    def set(self, state: str, detail: str) -> None:
        """Enter `state` (logged once on a change); in the same state only the detail is updated."""
        detail = _clean(detail)
        with self._lock:
            changed = self._enter(state, detail)
        self._log(changed, state, detail)

    def check(self) -> str:
        """Apply the clock rule (live sources: no frame for stall_seconds) and return the state."""
        changed, detail = False, ""
        with self._lock:
            state, age = self._state, time.monotonic() - self._waiting_since
            eligible = self.live and self._watching and state in ("starting", "running", "reconnecting")
            if eligible and age >= self.stall_seconds:  # checked and changed under one lock: no race with frame()
                state, detail = ("idle" if self.idle_ok else "stalled"), f"no frame for {age:.1f} s"
                changed = self._enter(state, detail, timed=True)
        self._log(changed, state, detail)
        return state

    def _enter(self, state: str, detail: str, timed: bool = False) -> bool:
        assert state in STATES, state
        changed = state != self._state
        if changed:
            self._state, self._since = state, time.time()
        self._detail, self._timed = detail, timed
        return changed

    def _log(self, changed: bool, state: str, detail: str) -> None:
        if changed:
            log.log(_LEVELS.get(state, logging.INFO), "capture %s: %s: %s", state, self.what, detail)

    def snapshot(self) -> CaptureHealth:
        self.check()
        now = time.monotonic()
        with self._lock:
            detail = self._detail
            if self._timed and self._state in _TIMED:
                detail = f"no frame for {now - self._waiting_since:.1f} s"
            return CaptureHealth(
                state=self._state, since=self._since, detail=detail,
                last_frame_age=None if self._last_frame is None else now - self._last_frame,
                heartbeat_age=now - self._beat,
            )
