"""The reduced-precision decision (backends/precision_parity.py): which comparisons keep a precision and which
refuse it. Expected outcomes are worked out here from the rule in the module's doc, not taken from the code."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.backends.precision_parity import PRECISION_TOLERANCE, check_frames, judge_precision
from edge_inspector.model.metadata import ModelMetadata
from edge_inspector.model.preprocess import crop_roi

THR, PIX = 0.5, 0.6


def maps(*peaks: float) -> list[np.ndarray]:
    return [np.full((4, 5), p, np.float32) for p in peaks]


def judge(ref: list[float], got: list[float], ref_peaks: list[float] | None = None,
          got_peaks: list[float] | None = None, tolerance: float = PRECISION_TOLERANCE):  # type: ignore[no-untyped-def]
    return judge_precision(maps(*(ref_peaks or [0.1] * len(ref))), ref, maps(*(got_peaks or [0.1] * len(got))), got,
                           image_threshold=THR, pixel_threshold=PIX, precision="fp16", tolerance=tolerance)


@pytest.mark.parametrize(("ref", "got", "ok", "flips"), [
    ([0.2, 0.9], [0.2, 0.9], True, 0),  # identical
    ([0.2, 0.9], [0.2 + 0.014, 0.9], True, 0),  # within 0.03 x 0.5 = 0.015
    ([0.2, 0.9], [0.2 + 0.016, 0.9], False, 0),  # a PASS moved beyond the tolerance
    ([0.2, 0.9], [0.2, 0.9 - 0.19], True, 0),  # a clear FAIL may move by half its margin (0.2)
    ([0.2, 0.9], [0.2, 0.9 - 0.21], False, 0),  # ... not more
    ([0.499, 0.9], [0.5, 0.9], False, 1),  # a tiny move across the threshold: a verdict flip
    ([0.5, 0.9], [0.4999, 0.9], False, 1),  # score >= threshold is a FAIL: equal counts as FAIL
])
def test_verdict_flips_and_score_moves(ref: list[float], got: list[float], ok: bool, flips: int) -> None:
    result = judge(ref, got)
    assert result.ok is ok and result.decision_flips == flips
    assert result.allowed == pytest.approx(PRECISION_TOLERANCE * THR)
    assert ("keeps" if ok else "does not keep") in result.summary()


def test_a_fails_region_that_appears_only_in_reduced_precision_refuses_it() -> None:
    result = judge([0.8], [0.8], ref_peaks=[0.59], got_peaks=[0.61])
    assert not result.ok and result.region_flips == 1 and result.decision_flips == 0
    assert result.max_map_abs_diff == pytest.approx(0.02, abs=1e-6)
    vanishes = judge([0.8], [0.8], ref_peaks=[0.61], got_peaks=[0.59])
    assert not vanishes.ok and vanishes.region_flips == 1


def test_a_region_flip_on_a_pass_changes_no_verdict() -> None:
    """Below the image threshold the part PASSes whatever the regions (postprocess.decide), and a trained
    model's map peak can sit within 0.004 of the pixel threshold (measured in bf16): that is no refusal."""
    result = judge([0.2], [0.2], ref_peaks=[0.59], got_peaks=[0.61])
    assert result.ok and result.region_flips == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_reduced_scores_or_maps_refuse(bad: float) -> None:
    assert judge([0.2], [bad]).non_finite == 1
    assert not judge([0.2], [bad]).ok
    m = maps(0.1)
    m[0][1, 1] = bad
    result = judge_precision(maps(0.1), [0.2], m, [0.2], image_threshold=THR, pixel_threshold=PIX, precision="bf16")
    assert not result.ok and result.non_finite == 1


def test_bad_inputs_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="expected equal, non-zero counts"):
        judge([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="expected equal, non-zero counts"):
        judge([], [])
    for tol in (-0.1, math.nan):
        with pytest.raises(ValueError, match="tolerance must be a number >= 0"):
            judge([0.1], [0.1], tolerance=tol)


def test_check_frames_include_the_given_images_and_flat_frames() -> None:
    meta = ModelMetadata(model_id="m", kind="scratch", input_size=(32, 32), arch={})
    good = [np.zeros((30, 50, 3), np.uint8)]
    frames = check_frames(meta, good)
    assert frames[0].shape == (30, 50, 3)
    assert any(f.std() == 0 and f.shape == (32, 32, 3) for f in frames[1:]), "a flat frame"
    assert all(f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)
    # with an ROI the generated frames hold it whole, so the check scores what the line scores
    with_roi = dataclasses.replace(meta, roi=(40, 10, 100, 60))
    assert {f.shape for f in check_frames(with_roi)} == {(70, 140, 3)}
    assert all(crop_roi(f, with_roi.roi).shape == (60, 100, 3) for f in check_frames(with_roi))


scores = st.floats(min_value=-2.0, max_value=3.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(scores, scores), min_size=1, max_size=8), st.floats(0.0, 0.2))
def test_fuzz_the_decision_matches_the_stated_rule(pairs: list[tuple[float, float]], tol: float) -> None:
    ref, got = [a for a, _ in pairs], [b for _, b in pairs]
    result = judge(ref, got, tolerance=tol)
    allowed = tol * THR
    budgets = [max(allowed, 0.5 * (a - THR), 1e-12) for a, _ in pairs]
    flips = sum((a >= THR) != (b >= THR) for a, b in pairs)
    assert result.decision_flips == flips
    # away from the boundary (a relative 1e-9) the rule decides; exactly on it float rounding may go either way
    if flips == 0 and all(abs(a - b) <= u * (1 - 1e-9) for (a, b), u in zip(pairs, budgets)):
        assert result.ok
    if flips or any(abs(a - b) > u * (1 + 1e-9) + 1e-15 for (a, b), u in zip(pairs, budgets)):
        assert not result.ok
    assert judge(ref, ref, tolerance=tol).ok  # fp32 against itself always keeps
