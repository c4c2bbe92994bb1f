"""Issue 18 item 3: one good-only threshold rule. A model's own threshold (`train`) and a profile's default policy
(`calibrate --policy target-false-reject`) are the same function with the same defaults, so they mean the same
thing; the expected thresholds here are worked out by hand from the binomial formula, not taken from the code."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch", reason="training's calibration imports torch (pip install .[train])")

from edge_inspector.calibration import calibration_run  # noqa: E402
from edge_inspector.evaluation import policies  # noqa: E402
from edge_inspector.training.model_threshold import calibrate  # noqa: E402
from edge_inspector.training.train_config import TrainConfig  # noqa: E402


def binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_few_good_images_the_threshold_is_the_highest_plus_a_tenth_of_the_spread_with_a_warning() -> None:
    good = np.array([0.20, 0.25, 0.30, 0.22, 0.40, 0.26, 0.31, 0.28])  # median (0.26 + 0.28) / 2 = 0.27
    expected = 0.40 + 0.1 * (0.40 - 0.27)  # 0.413: 8 images cannot support 0.5 % (598 are needed)
    model = calibrate(good, np.zeros((8, 4, 4), np.float32))
    profile = calibration_run.policies.target_false_reject(good)  # calibrate's default policy, its defaults
    assert model["image_threshold"] == pytest.approx(expected, abs=1e-12)
    assert profile.threshold == pytest.approx(expected, abs=1e-12)
    record = model["calibration"]
    assert record["policy"] == profile.policy == "target-false-reject"
    assert record["params"] == profile.params == {"target": 0.005, "confidence": 0.95}
    assert record["n_images"] == 8 and record["false_reject_rate"] == 0.0
    # zero rejects in 8: the 95 % upper bound is 1 - 0.05 ** (1 / 8)
    assert record["false_reject_upper"] == pytest.approx(1 - 0.05 ** (1 / 8))
    assert len(record["warnings"]) == 1 and "at least 598 good images" in record["warnings"][0]
    assert record["warnings"] == profile.warnings


def test_enough_good_images_reject_exactly_as_many_as_the_binomial_bound_allows() -> None:
    # 1000 good scores 0.000, 0.001, ..., 0.999. One reject in 1000: P(X <= 1; 1000, 0.005) = 0.040 < 0.05, so
    # the upper bound is below 0.5 %; two: P(X <= 2; 1000, 0.005) = 0.124 > 0.05, above it. The threshold
    # rejects exactly the top one: midway between the two highest, (0.998 + 0.999) / 2.
    assert binom_cdf(1, 1000, 0.005) < 0.05 < binom_cdf(2, 1000, 0.005)
    good = np.arange(1000) / 1000
    model = calibrate(good, np.zeros((1000, 2, 2), np.float32))
    profile = policies.target_false_reject(good, 0.005, 0.95)
    assert model["image_threshold"] == pytest.approx(0.9985, abs=1e-12)
    assert profile.threshold == pytest.approx(0.9985, abs=1e-12)
    assert model["calibration"]["false_reject_rate"] == 0.001 and model["calibration"]["warnings"] == []
    assert model["calibration"]["false_reject_upper"] <= 0.005


def test_the_defaults_are_one_set_shared_by_train_and_calibrate() -> None:
    from edge_inspector.cli.main import build_parser

    args = build_parser().parse_args(["calibrate", "--model", "m", "--good", "g", "--product", "p", "--station",
                                      "s", "--reason", "r"])
    assert args.policy == "target-false-reject"
    assert (args.target, args.confidence) == (policies.DEFAULT_TARGET, policies.DEFAULT_CONFIDENCE) == (0.005, 0.95)
    assert TrainConfig().frr_target == policies.DEFAULT_TARGET
    assert calibration_run.CalibrationRequest.__dataclass_fields__["target"].default == policies.DEFAULT_TARGET


def test_training_imports_no_calibration_module() -> None:
    """The rule lives below both wings: training must not pull in calibration/ (which imports training/)."""
    code = ("import sys, edge_inspector.training.loop, edge_inspector.training.api; "
            "print(sorted(m for m in sys.modules if m.startswith('edge_inspector.calibration')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
