"""Did the line keep its pace? Parts judged per second in a quiet window against a busy one of the same run.

Both windows share whatever load the machine has (other tests, a slow CI box), so comparing them tells a
door or an outage that holds the inspection thread apart from a machine that is merely slow: no test
depends on the machine keeping up with real time, only on the busy window judging a stated fraction of
the quiet one's rate. Used by test_reliability_delivery (a broker outage) and test_doors_fuzz (the fuzzer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class PaceWindow:
    """Parts counted by `count` (verdicts received, audit lines) from open() to close()."""

    count: Callable[[], int]
    start: int = 0
    t0: float = 0.0
    end: int | None = None
    t1: float = field(default=0.0)

    @classmethod
    def open(cls, count: Callable[[], int]) -> PaceWindow:
        """Start counting now."""
        return cls(count, count(), time.monotonic())

    def close(self) -> PaceWindow:
        """Stop counting now; returns the window."""
        self.end, self.t1 = self.count(), time.monotonic()
        return self

    @property
    def parts(self) -> int:
        """Parts judged in the window (closed)."""
        assert self.end is not None, "close() the window first"
        return self.end - self.start

    @property
    def seconds(self) -> float:
        return max(1e-3, self.t1 - self.t0)

    @property
    def rate(self) -> float:
        """Parts per second."""
        return self.parts / self.seconds


def assert_kept_pace(busy: PaceWindow, quiet: PaceWindow, slowdown: float, what: str) -> None:
    """The busy window judged at least 1/`slowdown` of the quiet window's rate."""
    assert busy.rate * slowdown >= quiet.rate, (
        f"{busy.parts} parts in {busy.seconds:.1f} s {what} ({busy.rate:.2f}/s) against {quiet.parts} in "
        f"{quiet.seconds:.1f} s before ({quiet.rate:.2f}/s): less than 1/{slowdown:g} of the pace")
