"""Threshold policies: pure numpy functions from good (and defect) scores to a threshold with honest rates.

The one good-only rule: `train` sets a model's own threshold with `target_false_reject` at the defaults below,
and `calibrate` offers it (same defaults) as a profile's default policy, so a model's threshold and a profile's
mean the same thing. This module sits in evaluation/ because both training/ and calibration/ import it and
neither may import the other's wing.

Rule everywhere: a part is rejected iff score >= threshold. Rates carry a one-sided exact binomial
(Clopper-Pearson) upper bound at confidence c.

Why the bound is the right one for `target-false-reject`: with the threshold just above the (k+1)-th highest
good score, the true false-reject rate of continuous scores is at most 1 - F(s_(k+1)), which is Beta(k+1, n-k)
distributed whatever F is. Its c-quantile equals the Clopper-Pearson upper bound for k rejects in n, so
"upper bound <= target" means: with probability c the line's false-reject rate is at most the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import f1_max

POLICIES = ("target-false-reject", "max-f1", "target-escape", "fixed")
# Fallback/zero-reject margin above the highest good score, as a fraction of the good spread (max - median):
# clear of the sample's worst good part, small next to the spread so it does not walk into defect territory.
MARGIN_FRACTION = 0.1
MIN_MARGIN = 1e-6
# The good-only defaults, for a model's own threshold and a profile's: reject at most 0.5 % of good parts, 95 % sure.
DEFAULT_TARGET = 0.005
DEFAULT_CONFIDENCE = 0.95


@dataclass
class PolicyResult:
    """The chosen threshold and what it is expected to do (rates on the sample and their upper bounds)."""

    policy: str
    params: dict[str, Any]
    threshold: float
    false_reject_rate: float
    false_reject_upper: float
    escape_rate: float | None = None
    escape_upper: float | None = None
    warnings: list[str] = field(default_factory=list)


def binomial_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate after k events in n trials (1.0 when k == n or n == 0)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence}")
    if n <= 0 or k >= n:
        return 1.0
    if k == 0:  # closed form: (1 - p)^n = 1 - c
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    alpha = 1.0 - confidence
    lo, hi = k / n, 1.0
    for _ in range(100):  # bisection: P(X <= k; n, p) falls monotonically in p
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _binom_cdf(k, n, mid) > alpha else (lo, mid)
    return hi


def _binom_cdf(k: int, n: int, p: float) -> float:
    log_p, log_q = math.log(p), math.log1p(-p)
    return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                                 + i * log_p + (n - i) * log_q) for i in range(k + 1)))


def samples_needed(target: float, confidence: float = 0.95) -> int:
    """Smallest n for which zero rejects in n supports `target` at `confidence`: n >= ln(1-c) / ln(1-r)."""
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - target) - 1e-9)


def _check(scores: np.ndarray | None, name: str) -> np.ndarray:
    s = np.asarray(scores if scores is not None else [], dtype=np.float64).ravel()
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: scores must be finite (a NaN score is a scorer fault, fix it first)")
    return s


def _rate(value: float, name: str) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}: expected a rate in (0, 1), got {value}")
    return value


def _result(policy: str, params: dict[str, Any], threshold: float, good: np.ndarray, defect: np.ndarray,
            confidence: float, warnings: list[str]) -> PolicyResult:
    rejects = int((good >= threshold).sum())
    res = PolicyResult(policy, params, float(threshold), rejects / len(good),
                       binomial_upper(rejects, len(good), confidence), warnings=warnings)
    if len(defect):
        escapes = int((defect < threshold).sum())
        res.escape_rate, res.escape_upper = escapes / len(defect), binomial_upper(escapes, len(defect), confidence)
    return res


def above_max(good: np.ndarray) -> float:
    """Highest good score plus the documented margin (MARGIN_FRACTION of max - median, at least MIN_MARGIN)."""
    top = float(good.max())
    return top + max(MARGIN_FRACTION * (top - float(np.median(good))), MIN_MARGIN)


def target_false_reject(good: np.ndarray, target: float = DEFAULT_TARGET, confidence: float = DEFAULT_CONFIDENCE,
                        defect: np.ndarray | None = None) -> PolicyResult:
    """Lowest threshold whose false-reject upper bound is <= target; too few good images -> max + margin and a
    warning saying how many images the target needs (the target is never claimed without support)."""
    g, d = _check(good, "good"), _check(defect, "defect")
    _rate(target, "target")
    _rate(confidence, "confidence")
    if len(g) == 0:
        raise ValueError("target-false-reject needs at least one good image")
    params = {"target": target, "confidence": confidence}
    n = len(g)
    k = -1
    while k + 1 < n and binomial_upper(k + 1, n, confidence) <= target:
        k += 1  # k = the most good parts the sample lets us reject
    warnings: list[str] = []
    desc = np.sort(g)[::-1]
    if k <= 0:
        threshold = above_max(g)
        if k < 0:
            need = samples_needed(target, confidence)
            warnings.append(
                f"only {n} good images: even with none rejected the false-reject rate is only known to be below "
                f"{binomial_upper(0, n, confidence):.1%} ({confidence:.0%} confidence), not the target {target:.2%}; "
                f"at least {need} good images are needed. Threshold set just above the highest good score.")
    else:  # midway between the (k+1)-th and k-th highest: rejects exactly the top k, conservative
        threshold = 0.5 * (desc[k] + desc[k - 1])
        if desc[k] == desc[k - 1]:
            threshold = float(np.nextafter(desc[k], np.inf))
    return _result("target-false-reject", params, threshold, g, d, confidence, warnings)


def target_escape(good: np.ndarray, defect: np.ndarray | None, target: float = 0.01,
                  confidence: float = 0.95) -> PolicyResult:
    """Highest threshold whose escape-rate upper bound is <= target; too few defects -> the lowest defect score
    (no sampled defect escapes) and a warning."""
    g, d = _check(good, "good"), _check(defect, "defect")
    if len(d) == 0:
        raise ValueError("policy target-escape needs defective images (--defects)")
    _rate(target, "target")
    _rate(confidence, "confidence")
    m = len(d)
    k = -1
    while k + 1 < m and binomial_upper(k + 1, m, confidence) <= target:
        k += 1  # k = the most defects allowed to escape
    warnings: list[str] = []
    if k < 0:
        k = 0
        warnings.append(
            f"only {m} defective images: even with none escaping the escape rate is only known to be below "
            f"{binomial_upper(0, m, confidence):.1%} ({confidence:.0%} confidence), not the target {target:.2%}; "
            f"at least {samples_needed(target, confidence)} defective images are needed. Threshold set at the "
            f"lowest defect score.")
    threshold = float(np.sort(d)[k])  # d_(k+1) itself is still caught (>=); only the k lowest escape
    return _result("target-escape", {"target": target, "confidence": confidence}, threshold, g, d, confidence,
                   warnings)


def max_f1(good: np.ndarray, defect: np.ndarray | None, confidence: float = 0.95) -> PolicyResult:
    """Threshold with the best F1 of 'defective iff score >= threshold' on the labelled sample."""
    g, d = _check(good, "good"), _check(defect, "defect")
    if len(d) == 0:
        raise ValueError("policy max-f1 needs defective images (--defects); with good images only use "
                         "target-false-reject")
    if len(g) == 0:
        raise ValueError("policy max-f1 needs at least one good image")
    labels = np.r_[np.zeros(len(g), bool), np.ones(len(d), bool)]
    f1, threshold = f1_max(labels, np.r_[g, d])
    res = _result("max-f1", {"confidence": confidence, "f1": round(f1, 6)}, threshold, g, d, confidence, [])
    rejects = int((g >= threshold).sum())
    if rejects / len(g) > 0.05:  # F1 weighs classes by their share of the sample, not by the line's mix
        res.warnings.append(f"max-f1 rejects {rejects} of {len(g)} good images ({rejects / len(g):.0%}): F1 "
                            f"counts the {len(d)} defects as if the line were {len(d) / (len(d) + len(g)):.0%} "
                            f"defective; use target-false-reject or target-escape for production")
    return res


def fixed(good: np.ndarray, threshold: float, defect: np.ndarray | None = None,
          confidence: float = 0.95) -> PolicyResult:
    """A threshold given by hand, with the rates it has on the sample."""
    g, d = _check(good, "good"), _check(defect, "defect")
    if threshold is None or not math.isfinite(threshold):
        raise ValueError(f"policy fixed needs a finite --threshold, got {threshold}")
    if len(g) == 0:
        raise ValueError("policy fixed needs at least one good image to report rates")
    return _result("fixed", {"threshold": float(threshold)}, threshold, g, d, confidence, [])


def rate_curves(good: np.ndarray, defect: np.ndarray | None, thresholds: np.ndarray,
                confidence: float = 0.95) -> dict[str, np.ndarray]:
    """False-reject and escape rates (and upper bounds) at each threshold, for plots."""
    g, d = _check(good, "good"), _check(defect, "defect")
    out: dict[str, list[float]] = {"false_reject": [], "false_reject_upper": [], "escape": [], "escape_upper": []}
    for t in thresholds:
        k = int((g >= t).sum())
        out["false_reject"].append(k / len(g))
        out["false_reject_upper"].append(binomial_upper(k, len(g), confidence))
        if len(d):
            e = int((d < t).sum())
            out["escape"].append(e / len(d))
            out["escape_upper"].append(binomial_upper(e, len(d), confidence))
    return {key: np.asarray(v) for key, v in out.items()}
