"""Bounded latency statistics: exact where promised, constant memory over a long run."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from edge_inspector.service.stats import LatencyRecorder, LatencyStats


def _close(a: LatencyStats, b: LatencyStats) -> bool:
    """Same n, the rest equal up to float summation order."""
    return a.n == b.n and all(math.isclose(x, y, rel_tol=1e-12) for x, y in
                              ((a.p50, b.p50), (a.p99, b.p99), (a.mean, b.mean), (a.max, b.max)))


def test_empty_recorder_reports_nan_like_latency_stats() -> None:
    rec = LatencyRecorder()
    for s in (rec.total(), rec.recent()):
        assert s.n == 0 and all(math.isnan(v) for v in (s.p50, s.p99, s.mean, s.max))
        assert str(s) == "n/a"


@pytest.mark.parametrize("n", [1, 2, 99, 500, 1000])
def test_total_is_exact_while_n_fits_the_reservoir(n: int) -> None:
    data = np.random.default_rng(n).gamma(2.0, 10.0, size=n)
    rec = LatencyRecorder(reservoir=1000, window=64)
    for v in data:
        rec.add(v)
    t = rec.total()
    assert _close(t, LatencyStats.of(data))
    assert t.n == n and t.max == data.max()
    assert t.p50 == np.percentile(data, 50) and t.p99 == np.percentile(data, 99)
    assert t.mean == pytest.approx(data.mean(), rel=1e-12)


@pytest.mark.parametrize("n", [10, 64, 65, 1000])
def test_recent_is_exact_over_the_last_window(n: int) -> None:
    data = np.random.default_rng(1).uniform(0, 50, size=n)
    rec = LatencyRecorder(reservoir=16, window=64)
    for v in data:
        rec.add(v)
    last = data[-64:]
    r = rec.recent()
    assert r.n == len(last) and r.max == last.max()
    assert r.p50 == np.percentile(last, 50) and r.p99 == np.percentile(last, 99)
    assert r.mean == pytest.approx(last.mean(), rel=1e-12)


def test_million_samples_constant_memory_and_accurate_quantiles() -> None:
    """Uniform 0..100: true p50 = 50, p99 = 99. A 10,000-value reservoir has a standard error of
    0.5 (p50) and 0.1 (p99); the tolerances are five of those."""
    data = np.random.default_rng(7).uniform(0.0, 100.0, size=1_000_000)
    rec = LatencyRecorder(reservoir=10_000, window=2_048, seed=3)
    reservoir, window = rec._reservoir, rec._window
    sizes = (reservoir.nbytes, window.nbytes)
    for v in data.tolist():
        rec.add(v)
    assert rec._reservoir is reservoir and rec._window is window, "no arrays were reallocated"
    assert (rec._reservoir.nbytes, rec._window.nbytes) == sizes == (10_000 * 8, 2_048 * 8)
    t = rec.total()
    assert t.n == 1_000_000 and t.max == data.max()
    assert t.mean == pytest.approx(data.mean(), rel=1e-9)
    assert abs(t.p50 - 50.0) < 2.5, t
    assert abs(t.p99 - 99.0) < 0.5, t
    assert _close(rec.recent(), LatencyStats.of(data[-2_048:]))


def test_reservoir_is_a_uniform_sample_not_the_first_or_last_values() -> None:
    """A rising sequence 0..99,999: a uniform sample has median near 50,000; a biased one would not."""
    rec = LatencyRecorder(reservoir=2_000, window=8)
    for v in range(100_000):
        rec.add(float(v))
    assert abs(rec.total().p50 - 50_000) < 3_000


def test_add_is_thread_safe() -> None:
    rec = LatencyRecorder(reservoir=100, window=10)

    def worker() -> None:
        for _ in range(20_000):
            rec.add(1.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = rec.total()
    assert total.n == 80_000 and total.mean == 1.0 and total.max == 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_latency_is_refused(bad: float) -> None:
    rec = LatencyRecorder()
    with pytest.raises(ValueError, match="expected a finite number"):
        rec.add(bad)
    assert rec.total().n == 0


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="reservoir >= 1"):
        LatencyRecorder(reservoir=0)
