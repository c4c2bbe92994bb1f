"""Which parts the reject bridge fires for, and when: the fail-safe rules as pure, clock-free decisions.

Times are Unix epoch seconds (`now` is passed in). Where a part fires comes from the geometry (geometry.py): in
delay mode a time, its verdict's `captured_ts` plus the camera-to-ejector delay; in encoder mode a belt count,
the belt's position at `captured_ts` plus counts_to_ejector ("firing time" below reads "firing count" there, and
a part the encoder cannot place is refused, counted `no_position`); in `announce: triggers` mode a part
announced on the PLC's trigger topic fires at its trigger's arrival plus the delay unless a PASS for its
`part_id` arrived first; in `announce: captures` mode every frame the daemon announced on its `captured` topic
(publish/capture_notice.py) fires at its captured_ts plus the delay unless a PASS for its (run_id, seq) arrived
first. The rules (docs/deploy.md):
1. PASS never fires; FAIL and FAULT fire once, at their firing time.
2. A replayed verdict (`replayed: true`) never fires: it is a record, its part passed long ago (counted).
3. A late verdict (its firing time already passed when it arrived) never fires (counted).
4. A duplicate by (station, run_id, seq) never fires twice (counted); a part_id is fired at most once too.
5. A part whose verdict has not arrived by its firing time is rejected: a trigger or a capture notice without a
   verdict in time, and a gap in `seq` within a run_id (each missing seq fires at a time interpolated between its
   neighbours'; one that is already past when the gap shows is counted `missing_too_late`, the bridge cannot reach it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from .geometry import DelayGeometry, Geometry
from .messages import Verdict

MAX_PENDING_TRIGGERS = 10_000
MAX_RUNS = 16  # run_ids whose last seq is remembered for gap detection
MAX_GAP = 10_000  # a larger jump in seq is reported, not expanded into that many pulses


@dataclass(frozen=True)
class Planned:
    """One pulse to fire at `at` (epoch s, or a belt count in encoder mode), unless take(token) cancels it."""

    at: float
    token: int
    what: str  # e.g. "FAIL run/seq", "missing run/seq", "trigger P-1 (no verdict)"


@dataclass
class _Pending:
    at: float
    what: str
    part_id: str | None = None
    cancelled: bool = False


COUNTERS = ("verdicts", "passed", "scheduled", "late", "replayed", "duplicates", "clock_skew", "missing_scheduled",
            "missing_too_late", "gaps_too_large", "triggers", "trigger_duplicates", "late_triggers",
            "trigger_timeouts", "captures", "capture_duplicates", "late_captures", "capture_timeouts", "fired",
            "cancelled", "no_position")


class Planner:
    """Thread-safe: verdicts and triggers come from the MQTT thread, take() from the firing thread."""

    def __init__(self, geometry: Geometry | float, max_skew_s: float = 2.0, dedup_entries: int = 100_000) -> None:
        # a number is a delay in seconds (delay mode)
        self.geo = DelayGeometry(geometry) if isinstance(geometry, (int, float)) else geometry
        self.max_skew_s, self.dedup_entries = max_skew_s, dedup_entries
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self._runs: OrderedDict[str, tuple[int, float]] = OrderedDict()  # run_id -> (last seq, its firing time)
        self._pending: dict[int, _Pending] = {}
        self._by_part: OrderedDict[str, int] = OrderedDict()  # part_id -> token (pending or fired)
        self._by_capture: OrderedDict[tuple[str, str, int], int] = OrderedDict()  # notice key -> token
        self._next = 0

    def _passed(self, at: float, now: float) -> bool:
        """Whether the belt (or the clock) is already at or past `at`; unknown (encoder in error) is not past."""
        here = self.geo.here(now)
        return here is not None and at <= here

    def _plan(self, at: float, what: str, part_id: str | None = None) -> Planned:
        self._next += 1
        self._pending[self._next] = _Pending(at, what, part_id)
        return Planned(at, self._next, what)

    def on_verdict(self, v: Verdict, now: float) -> list[Planned]:
        """The pulses this verdict asks for (none, one, or the missing parts of a seq gap as well)."""
        with self._lock:
            self.counts["verdicts"] += 1
            if v.captured_ts - now > self.max_skew_s:  # a clock ahead of ours, or a forged time
                self.counts["clock_skew"] += 1
                return []
            if v.key in self._seen:
                self.counts["duplicates"] += 1
                return []
            self._seen[v.key] = None
            if len(self._seen) > self.dedup_entries:
                self._seen.popitem(last=False)
            if v.replayed:
                self.counts["replayed"] += 1
                return []
            at = self.geo.target(v.captured_ts, now)
            out = self._gap(v, at, now) if at is not None else []
            token = self._by_part.get(v.part_id) if v.part_id is not None else None
            if token is None:
                token = self._by_capture.get(v.key)
            if token is not None:  # an announced part (trigger or capture notice): its pulse stands or is cancelled
                pending = self._pending.get(token)
                if pending is None or self._passed(pending.at, now):  # the fail-safe fired (or fires now)
                    self.counts["late"] += 1
                elif v.rejects:
                    self.counts["scheduled"] += 1
                    pending.what = f"{v.verdict} {v.run_id}/{v.seq}" + (f" part {v.part_id}" if v.part_id else "")
                else:
                    pending.cancelled = True
                    self.counts["passed"] += 1
                return out
            if not v.rejects:
                self.counts["passed"] += 1
            elif at is None:  # encoder mode: captured outside the position history, or the encoder in error
                self.counts["no_position"] += 1
            elif self._passed(at, now):
                self.counts["late"] += 1
            else:
                self.counts["scheduled"] += 1
                out.append(self._plan(at, f"{v.verdict} {v.run_id}/{v.seq}", v.part_id))
                if v.part_id is not None:
                    self._remember_part(v.part_id, out[-1].token)
            return out

    def _gap(self, v: Verdict, at: float, now: float) -> list[Planned]:
        last = self._runs.get(v.run_id)
        if last is None or v.seq > last[0]:
            self._runs[v.run_id] = (v.seq, at)
            self._runs.move_to_end(v.run_id)
            if len(self._runs) > MAX_RUNS:
                self._runs.popitem(last=False)
        if last is None or v.seq <= last[0] + 1:
            return []  # first sighting of a run (the bridge may have started mid-run), in order, or older
        missing = v.seq - last[0] - 1
        if missing > MAX_GAP:
            self.counts["gaps_too_large"] += 1
            return []
        out = []
        for i in range(1, missing + 1):
            seq = last[0] + i
            t = last[1] + (at - last[1]) * i / (missing + 1)
            if (v.station, v.run_id, seq) in self._seen or (v.station, v.run_id, seq) in self._by_capture:
                continue  # its verdict came, or its capture notice's pulse stands for it already
            if self._passed(t, now):
                self.counts["missing_too_late"] += 1
            else:
                self.counts["missing_scheduled"] += 1
                out.append(self._plan(t, f"missing {v.run_id}/{seq} (no verdict)"))
        return out

    def on_trigger(self, part_id: str, sent: float | None, now: float) -> Planned | None:
        """A part announced on the trigger topic: a pulse at now + delay (the belt's position now + counts) unless a
        PASS for it arrives first."""
        with self._lock:
            self.counts["triggers"] += 1
            if part_id in self._by_part:
                self.counts["trigger_duplicates"] += 1
                return None
            sent_at = self.geo.target(sent, now) if sent is not None and sent <= now else None
            if sent_at is not None and self._passed(sent_at, now):  # held back by the broker: the part is gone
                self.counts["late_triggers"] += 1
                return None
            at = self.geo.target(now, now)
            if at is None:
                self.counts["no_position"] += 1
                return None
            planned = self._plan(at, f"trigger {part_id} (no verdict in time)", part_id)
            self._remember_part(part_id, planned.token)
            return planned

    def on_capture(self, key: tuple[str, str, int], captured_ts: float, now: float) -> Planned | None:
        """A frame the daemon numbered (station, run_id, seq): a pulse at captured_ts + delay unless a PASS for it
        arrives first. None when its verdict came already, the notice is a duplicate, too late or skewed."""
        with self._lock:
            self.counts["captures"] += 1
            if key in self._seen or key in self._by_capture:  # the verdict was first, or a redelivery
                self.counts["capture_duplicates"] += 1
                return None
            if captured_ts - now > self.max_skew_s:
                self.counts["clock_skew"] += 1
                return None
            at = self.geo.target(captured_ts, now)
            if at is None:
                self.counts["no_position"] += 1
                return None
            if self._passed(at, now):  # held back past its firing time: the part has passed the ejector
                self.counts["late_captures"] += 1
                return None
            planned = self._plan(at, f"capture {key[1]}/{key[2]} (no verdict in time)")
            self._by_capture[key] = planned.token
            if len(self._by_capture) > MAX_PENDING_TRIGGERS:
                self._by_capture.popitem(last=False)
            return planned

    def _remember_part(self, part_id: str, token: int) -> None:
        self._by_part[part_id] = token
        if len(self._by_part) > MAX_PENDING_TRIGGERS:
            self._by_part.popitem(last=False)

    def take(self, token: int) -> str | None:
        """At firing time: what to fire for (and count it), or None when the pulse was cancelled by a PASS."""
        with self._lock:
            pending = self._pending.pop(token, None)
            if pending is None:
                return None
            if pending.cancelled:
                self.counts["cancelled"] += 1
                return None
            if pending.what.startswith("trigger "):
                self.counts["trigger_timeouts"] += 1
            elif pending.what.startswith("capture "):
                self.counts["capture_timeouts"] += 1
            self.counts["fired"] += 1
            return pending.what

    def forfeit(self, token: int) -> str | None:
        """A pulse that will not fire (encoder mode: its count passed while the encoder could not be read): what
        it was for, or None when a PASS had cancelled it anyway. Not counted as fired; the caller counts it."""
        with self._lock:
            pending = self._pending.pop(token, None)
            if pending is None or pending.cancelled:
                self.counts["cancelled"] += pending is not None
                return None
            return pending.what

    def drop(self, token: int) -> None:
        """Forget a planned pulse the firing thread could not queue (it counts those)."""
        with self._lock:
            self._pending.pop(token, None)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self.counts, "pending": len(self._pending)}
