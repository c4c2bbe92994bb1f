"""Part triggers from the PLC: `{"part_id": "..."}` on {prefix}/{station}/trigger, matched to the next frame.

A trigger is matched to the first frame captured at or after it and at most `window` seconds later; a
trigger that no frame matched within its window is expired and published as a FAULT verdict with its part
id, so the reject actuator fires for a part the camera never saw (reject on timeout). A trigger that says
when it was sent (`ts`, epoch seconds) and arrives after its window (queued by the broker during an outage)
is expired at once. on_trigger() runs on the MQTT network thread; match() and expired() on the inspection
thread. A message is bounded before it gets here (mqtt.max_message_bytes; retained ones are dropped by the
connection) and parse_trigger() quotes at most a capped excerpt of whatever it refuses.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config.redact import cap
from ..json_numbers import finite_float

log = logging.getLogger(__name__)
MAX_PENDING = 1000  # triggers waiting for a frame; past it the oldest is expired (a camera that died)
PART_ID_MAX = 128  # characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a part id goes into log lines and file names: no line breaks


class TriggerError(ValueError):
    """A trigger message the daemon refuses; one line with at most a capped excerpt of the value."""


def parse_trigger(payload: bytes) -> tuple[str, float | None]:
    """(part_id, ts or None) from one trigger message; TriggerError for anything else."""
    try:
        data: Any = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5000-digit number, deep nesting
        raise TriggerError(f"not JSON: {cap(str(exc) or type(exc).__name__, 120)}") from None
    if not isinstance(data, dict):
        raise TriggerError(f"expected a JSON object with part_id, got {type(data).__name__}")
    part_id = data.get("part_id")
    if not (isinstance(part_id, str) and 1 <= len(part_id) <= PART_ID_MAX and not _CONTROL.search(part_id)):
        raise TriggerError(f"part_id: expected a string of 1-{PART_ID_MAX} characters without control characters, "
                           f"got {cap(part_id, 80)}")
    sent = data.get("ts")
    if sent is not None and finite_float(sent) is None:
        raise TriggerError(f"ts: expected epoch seconds, got {cap(sent, 60)}")
    return part_id, None if sent is None else float(sent)


@dataclass(frozen=True)
class Trigger:
    part_id: str
    at_mono: float  # when the daemon received it (time.monotonic())
    at_wall: float  # the same in time.time(), for the FAULT's captured_at
    reason: str = ""  # set when it expired: why


class TriggerMatcher:
    """Pending triggers in arrival order; thread-safe."""

    def __init__(self, window_s: float, fire: Callable[[], None] | None = None) -> None:
        self.window_s, self._fire = window_s, fire
        self._pending: deque[Trigger] = deque()
        self._expired: list[Trigger] = []
        self._lock = threading.Lock()
        self.received = self.refused = self.matched = self.timed_out = 0

    def on_trigger_json(self, payload: bytes) -> None:
        """A raw message from the trigger topic; never raises (a bad one is logged and counted)."""
        try:
            part_id, sent = parse_trigger(payload)
        except TriggerError as exc:
            self.refused += 1
            log.warning("trigger refused (%s): %s", exc, cap(payload, 120))
            return
        self.on_trigger(part_id, sent)

    def on_trigger(self, part_id: str, sent_at: float | None = None) -> None:
        """Register one part; fire the source's software trigger when there is one."""
        now_mono, now_wall = time.monotonic(), time.time()
        with self._lock:
            self.received += 1
            if sent_at is not None and now_wall - sent_at > self.window_s:
                self._expired.append(Trigger(part_id, now_mono, sent_at, f"trigger for part {part_id} arrived "
                                             f"{now_wall - sent_at:.1f} s after it was sent (window "
                                             f"{self.window_s * 1000:.0f} ms)"))
                return
            self._pending.append(Trigger(part_id, now_mono, now_wall))
            if len(self._pending) > MAX_PENDING:
                old = self._pending.popleft()
                self._expired.append(Trigger(old.part_id, old.at_mono, old.at_wall,
                                             f"more than {MAX_PENDING} triggers waiting for a frame"))
        if self._fire is not None:
            try:
                self._fire()
            except Exception as exc:  # noqa: BLE001 - the window will expire it as a FAULT
                log.warning("software trigger for part %s failed: %s", part_id, exc)

    def match(self, captured_mono: float) -> str | None:
        """The part id of a frame captured at `captured_mono`: the oldest pending trigger at or before it and
        within the window; triggers older than that are left for expired(). None for an unannounced frame."""
        with self._lock:
            for i, t in enumerate(self._pending):
                if t.at_mono <= captured_mono <= t.at_mono + self.window_s:
                    del self._pending[i]
                    self.matched += 1
                    return t.part_id
                if t.at_mono > captured_mono:
                    break
        return None

    def expired(self, now_mono: float | None = None) -> list[Trigger]:
        """Triggers whose window passed without a frame (oldest first), each with the reason."""
        now = time.monotonic() if now_mono is None else now_mono
        with self._lock:
            out, self._expired = self._expired, []
            while self._pending and now > self._pending[0].at_mono + self.window_s:
                t = self._pending.popleft()
                why = f"no frame within {self.window_s * 1000:.0f} ms of the trigger for part {t.part_id}"
                out.append(Trigger(t.part_id, t.at_mono, t.at_wall, why))
        self.timed_out += len(out)
        return out
