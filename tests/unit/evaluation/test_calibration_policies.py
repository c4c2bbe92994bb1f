"""Threshold policies against hand-computed cases and the binomial formula (never the code's own output)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_inspector.evaluation import policies as P


def binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize(("n", "c", "expected"), [
    (14, 0.95, 1 - 0.05 ** (1 / 14)),  # 0.19264: 14 good cookies say "below 19.3 %", not "below 0.5 %"
    (20, 0.95, 1 - 0.05 ** (1 / 20)),  # 0.13911
    (598, 0.95, 1 - 0.05 ** (1 / 598)),  # just below 0.005
    (10, 0.90, 1 - 0.1 ** (1 / 10)),
])
def test_upper_bound_zero_events_is_closed_form(n: int, c: float, expected: float) -> None:
    assert P.binomial_upper(0, n, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("k", "n", "c"), [(1, 20, 0.95), (2, 20, 0.95), (1, 14, 0.95), (5, 1000, 0.95),
                                           (3, 10, 0.8)])
def test_upper_bound_solves_the_binomial_tail(k: int, n: int, c: float) -> None:
    upper = P.binomial_upper(k, n, c)
    assert binom_cdf(k, n, upper) == pytest.approx(1 - c, abs=1e-9)  # Clopper-Pearson definition
    assert k / n < upper < 1


def test_upper_bound_hand_values() -> None:
    # 2 of 20 bottles rejected: exact 95 % upper bound 0.2826 (Beta(3, 18) 95th percentile, tables).
    assert P.binomial_upper(2, 20, 0.95) == pytest.approx(0.2826, abs=5e-4)
    assert P.binomial_upper(20, 20) == 1.0 and P.binomial_upper(0, 0) == 1.0


@pytest.mark.parametrize(("r", "c", "n"), [(0.005, 0.95, 598), (0.01, 0.95, 299), (0.05, 0.95, 59),
                                           (0.1, 0.9, 22)])
def test_samples_needed(r: float, c: float, n: int) -> None:
    assert P.samples_needed(r, c) == n
    assert 1 - (1 - c) ** (1 / n) <= r < 1 - (1 - c) ** (1 / (n - 1))


def test_small_sample_warns_and_falls_back_above_the_max() -> None:
    good = np.array([0.1, 0.2, 0.3, 0.4, 0.5])  # median 0.3, max 0.5 -> 0.5 + 0.1 * 0.2
    res = P.target_false_reject(good, 0.005, 0.95)
    assert res.threshold == pytest.approx(0.52)
    assert res.false_reject_rate == 0.0
    assert res.false_reject_upper == pytest.approx(1 - 0.05 ** (1 / 5))
    assert len(res.warnings) == 1 and "598" in res.warnings[0] and "only 5 good images" in res.warnings[0]


def test_enough_samples_reject_the_top_k() -> None:
    # n = 2000, target 1 %: k rejects are allowed while the upper bound stays <= 0.01.
    n, target = 2000, 0.01
    allowed = max(k for k in range(60) if k == 0 or binom_cdf(k, n, target) <= 0.05)
    good = np.arange(n, dtype=float)  # scores 0 .. 1999; the top `allowed` must be rejected
    res = P.target_false_reject(good, target, 0.95)
    assert int((good >= res.threshold).sum()) == allowed
    assert res.threshold == pytest.approx(n - allowed - 0.5)  # midway between the kept and the rejected score
    assert res.false_reject_upper <= target and res.warnings == []


def test_zero_rejects_supported_has_no_warning() -> None:
    good = np.linspace(0, 1, 700)  # 700 >= 598: zero rejects supports 0.5 %, one reject does not
    res = P.target_false_reject(good, 0.005, 0.95)
    assert res.warnings == [] and res.threshold > 1.0 and res.false_reject_upper <= 0.005


def test_escape_rates_reported_when_defects_exist() -> None:
    good = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    defect = np.array([0.45, 0.6, 0.7, 0.8])  # threshold 0.52: one of four escapes
    res = P.target_false_reject(good, 0.005, 0.95, defect)
    assert res.escape_rate == 0.25
    assert binom_cdf(1, 4, res.escape_upper) == pytest.approx(0.05, abs=1e-9)


def test_target_escape_picks_the_highest_threshold() -> None:
    defect = np.arange(1000, dtype=float)
    allowed = max(k for k in range(40) if binom_cdf(k, 1000, 0.02) <= 0.05)
    res = P.target_escape(np.array([0.0]), defect, 0.02, 0.95)
    assert res.threshold == float(allowed)  # the `allowed` lowest defects (0..allowed-1) escape
    assert res.escape_rate == allowed / 1000 and res.escape_upper <= 0.02


def test_target_escape_small_sample_warns() -> None:
    res = P.target_escape(np.array([0.1]), np.array([0.7, 0.4, 0.9]), 0.01)
    assert res.threshold == 0.4 and res.escape_rate == 0.0 and "only 3 defective" in res.warnings[0]


def test_max_f1_hand_case() -> None:
    good, defect = np.array([0.1, 0.2, 0.35]), np.array([0.3, 0.5, 0.6])
    # thresholds: 0.5 -> P 1, R 2/3, F1 0.8; 0.3 -> P 3/4, R 1, F1 6/7 (best); 0.35 -> P 2/3, R 2/3
    res = P.max_f1(good, defect)
    assert res.threshold == 0.3 and res.params["f1"] == pytest.approx(6 / 7, abs=1e-6)
    assert res.false_reject_rate == pytest.approx(1 / 3) and res.escape_rate == 0.0


def test_max_f1_flagging_most_good_parts_warns() -> None:
    # by hand: threshold 0.4 flags all 8 (P 6/8, R 1, F1 6/7) and beats 0.45 (F1 10/13) and 0.7 (F1 2/3)
    res = P.max_f1(np.array([0.5, 0.6]), np.array([0.7, 0.8, 0.9, 0.55, 0.4, 0.45]))
    assert res.threshold == 0.4 and res.false_reject_rate == 1.0 and "max-f1 rejects 2 of 2" in res.warnings[0]


@pytest.mark.parametrize("call", [lambda: P.max_f1(np.array([0.1]), None),
                                  lambda: P.target_escape(np.array([0.1]), np.array([]))])
def test_defect_policies_need_defects(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="needs defective images"):
        call()


def test_fixed_reports_the_sample_rates() -> None:
    res = P.fixed(np.array([0.1, 0.2, 0.3, 0.6]), 0.5, np.array([0.4, 0.9]))
    assert (res.threshold, res.false_reject_rate, res.escape_rate) == (0.5, 0.25, 0.5)


@pytest.mark.parametrize(("kwargs", "match"), [({"target": 0.0}, "target"), ({"target": 1.5}, "target"),
                                               ({"confidence": 1.0}, "confidence")])
def test_bad_rates_are_refused(kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=match):
        P.target_false_reject(np.array([0.1, 0.2]), **kwargs)


def test_nan_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        P.target_false_reject(np.array([0.1, np.nan]))
