"""Latency statistics shared by the daemon summary and the benchmarks."""

from __future__ import annotations

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
    def of(cls, samples_ms: Sequence[float]) -> "LatencyStats":
        if not samples_ms:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        a = np.asarray(samples_ms, dtype=np.float64)
        return cls(len(a), float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean()), float(a.max()))

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        return f"p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, mean {self.mean:.1f} ms (n={self.n})"
