"""Naming the defect of a FAIL on the inspection thread (model.defect_types): FAILs only, the classifier's
answer in the Inspection, and a classifier that raises never stops the line or holds a verdict back (the
verdict goes without defect_type; the failure is counted and logged at most once a minute)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from edge_inspector.config.models import Config, InspectionConfig
from edge_inspector.service.defect_naming import DefectNaming
from edge_inspector.service.inspection_step import InspectionStep
from edge_inspector.service.profile_settings import InspectionSettings
from edge_inspector.service.run_state import RunState
from edge_inspector.service.stages import StageTimes
from edge_inspector.types import AnomalyMap, DefectType, Frame, Verdict


class Named:
    """A classifier that names every frame by its mean grey level (an answer the test can predict)."""

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, frames: list[np.ndarray]) -> list[tuple[str, float]]:
        self.calls += 1
        return [("dark" if f.mean() < 128 else "bright", 0.75) for f in frames]

    def close(self) -> None:
        pass


class Broken(Named):
    def classify(self, frames: list[np.ndarray]) -> list[tuple[str, float]]:
        self.calls += 1
        raise RuntimeError("CUDA error: an illegal memory access\nsecond line")


class ScoreByMean:
    """The inspection model: the frame's mean grey level / 255 as the score, a hot map where it is bright."""

    def infer(self, images: list[np.ndarray]) -> list[AnomalyMap]:
        return [AnomalyMap((im[..., 0] / 255.0).astype(np.float32), float(im.mean() / 255.0)) for im in images]


def frame(seq: int, level: int) -> Frame:
    return Frame(seq=seq, captured_at=time.time(), captured_mono=time.monotonic(),
                 image=np.full((32, 32, 3), level, np.uint8), source_index=seq, name=f"f{seq}")


def step_with(classifier: Named) -> InspectionStep:
    state = RunState(Config(), "20240501T115820Z-3fa9c1")
    state.use_settings(InspectionSettings(0.5, 0.5, InspectionConfig(require_region=False, min_defect_area=0)))
    step = InspectionStep(state, None)
    step.naming = DefectNaming(classifier, state.stages)
    return step


def test_fails_are_named_and_passes_are_not() -> None:
    classifier = Named()
    step = step_with(classifier)
    fail = step.inspect(frame(0, 200), ScoreByMean())  # type: ignore[arg-type]
    good = step.inspect(frame(1, 20), ScoreByMean())  # type: ignore[arg-type]
    assert fail.verdict is Verdict.FAIL and fail.defect_type == DefectType("bright", 0.75)
    assert good.verdict is Verdict.PASS and good.defect_type is None
    assert classifier.calls == 1  # a good line pays nothing
    assert step.state.stages.totals()["defect_type"].n == 1


def test_a_failing_classifier_never_stops_the_line_and_is_logged_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    classifier = Broken()
    step = step_with(classifier)
    with caplog.at_level(logging.WARNING, logger="edge_inspector.service.defect_naming"):
        verdicts = [step.inspect(frame(i, 220), ScoreByMean()) for i in range(5)]  # type: ignore[arg-type]
    assert [v.verdict for v in verdicts] == [Verdict.FAIL] * 5
    assert all(v.defect_type is None for v in verdicts)
    assert classifier.calls == 5 and step.naming is not None and step.naming.failures == 5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "an illegal memory access" in lines[0] and "second line" not in lines[0]


def test_a_confidence_outside_0_1_from_rounding_is_clamped() -> None:
    class Over(Named):
        def classify(self, frames: list[np.ndarray]) -> list[tuple[str, float]]:
            return [("x", 1.0000001)]

    assert DefectNaming(Over(), StageTimes()).name(np.zeros((4, 4, 3), np.uint8), 0) == DefectType("x", 1.0)
