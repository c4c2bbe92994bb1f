"""Where a part fires, in the unit its scheduler counts in: the planner asks only these two questions, so its
fail-safe rules are the same for a delay (epoch seconds) and for an encoder (belt counts).

- `target(ts, now)`: where a part captured at epoch time `ts` (the station's clock) is at the ejector; None when
  the bridge cannot tell (encoder mode: a capture time outside the position history, or the encoder in error).
- `here(now)`: where the belt is now; None when unknown (the encoder cannot be read): nothing is judged late then.
"""

from __future__ import annotations

from typing import Protocol

from .encoder import PositionRing


class Geometry(Protocol):
    unit: str  # "s" or "counts", for the status and the log

    def target(self, ts: float, now: float) -> float | None: ...
    def here(self, now: float) -> float | None: ...


class DelayGeometry:
    """schedule.mode delay: a part fires `delay_s` after its capture time; the belt's position is the clock."""

    unit = "s"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def target(self, ts: float, now: float) -> float:
        return ts + self.delay_s

    def here(self, now: float) -> float:
        return now


class EncoderGeometry:
    """schedule.mode encoder: a part fires `counts` after the belt's position at its capture time."""

    unit = "counts"

    def __init__(self, ring: PositionRing, counts: int) -> None:
        self.ring, self.counts = ring, counts

    def target(self, ts: float, now: float) -> float | None:
        at = self.ring.at(ts, now)
        return None if at is None else at + self.counts

    def here(self, now: float) -> float | None:
        pos = self.ring.here(now)
        return None if pos is None else float(pos)
