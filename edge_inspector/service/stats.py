"""Latency statistics shared by the daemon summary, the stats telemetry and the benchmarks."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Percentiles of a latency sample in milliseconds."""

    n: int
    p50: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples_ms: Sequence[float] | np.ndarray) -> "LatencyStats":
        if len(samples_ms) == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        a = np.asarray(samples_ms, dtype=np.float64)
        return cls(len(a), float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean()), float(a.max()))

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        return f"p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, mean {self.mean:.1f} ms (n={self.n})"


class LatencyRecorder:
    """Latency summaries in constant memory, for a process that runs for months.

    total(): the whole run. n, mean and max are exact; p50/p99 come from a uniform random sample of
    at most `reservoir` values (Vitter's algorithm R), so they are exact while n <= reservoir.
    recent(): exact statistics of the last `window` samples (a preallocated ring buffer).
    add() may be called from any thread.
    """

    def __init__(self, reservoir: int = 10_000, window: int = 2_048, seed: int = 0) -> None:
        if reservoir < 1 or window < 1:
            raise ValueError(f"LatencyRecorder: expected reservoir >= 1 and window >= 1, got {reservoir}, {window}")
        self._reservoir = np.empty(reservoir, dtype=np.float64)
        self._window = np.empty(window, dtype=np.float64)
        self._rng = random.Random(seed)  # seeded: the same samples give the same percentiles
        self._lock = threading.Lock()
        self._n = 0
        self._sum = 0.0
        self._max = -math.inf

    def add(self, ms: float) -> None:
        """Record one latency in milliseconds; a non-finite value is refused (ValueError)."""
        value = float(ms)
        if not math.isfinite(value):
            raise ValueError(f"latency: expected a finite number of milliseconds, got {value}")
        with self._lock:
            n = self._n
            size = len(self._reservoir)
            if n < size:
                self._reservoir[n] = value
            else:
                j = self._rng.randrange(n + 1)  # keep the new value with probability size / (n + 1)
                if j < size:
                    self._reservoir[j] = value
            self._window[n % len(self._window)] = value
            self._n = n + 1
            self._sum += value
            self._max = max(self._max, value)

    def total(self) -> LatencyStats:
        """The whole run: exact n, mean, max; p50/p99 from the reservoir sample."""
        with self._lock:
            n, total, top = self._n, self._sum, self._max
            sample = self._reservoir[: min(n, len(self._reservoir))].copy()
        if n == 0:
            return LatencyStats.of([])
        return LatencyStats(n, float(np.percentile(sample, 50)), float(np.percentile(sample, 99)), total / n, top)

    def recent(self) -> LatencyStats:
        """The last `window` samples (fewer at the start), exactly."""
        with self._lock:
            last = self._window[: min(self._n, len(self._window))].copy()
        return LatencyStats.of(last)
