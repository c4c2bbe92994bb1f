"""Names the defect of every FAIL (model.defect_types): the type classifier runs on the failed frame, on the
inspection thread, right after the verdict (FAILs only, so a good line pays nothing). A classifier that fails
must never stop the line or hold a verdict back: the verdict then goes out without `defect_type`, the failure
is counted and logged at most once a minute.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..publish.log_throttle import LogThrottle
from ..types import DefectType
from .stages import StageTimes

if TYPE_CHECKING:
    from ..config.models import ModelConfig

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """What naming needs of backends/defect_typer.DefectTyper."""

    def classify(self, frames: list[np.ndarray]) -> list[tuple[str, float]]: ...

    def close(self) -> None: ...


class DefectNaming:
    """name(image) -> the DefectType of a failed frame, or None when the classifier failed (counted, logged)."""

    def __init__(self, classifier: Classifier, stages: StageTimes) -> None:
        self.classifier, self.stages = classifier, stages
        self.failures = 0
        self._throttle = LogThrottle()

    def name(self, image: np.ndarray | None, seq: int) -> DefectType | None:
        if image is None:
            return None
        try:
            with self.stages.time("defect_type"):
                ((name, confidence),) = self.classifier.classify([image])
            return DefectType(name, min(1.0, max(0.0, float(confidence))))
        except Exception as exc:  # noqa: BLE001 - a failing classifier must not stop the line
            self.failures += 1
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self._throttle.log(log, logging.WARNING, "defect type: classifier failed on seq %d, verdict sent "
                               "without defect_type: %s", seq, first)
            return None

    def close(self) -> None:
        self.classifier.close()


def open_defect_naming(model: ModelConfig, stages: StageTimes) -> DefectNaming | None:
    """The naming of model.defect_types (its classifier loaded now: BackendError, one line, when it cannot be),
    on the inspection model's device; None when the key is not set."""
    if model.defect_types is None:
        return None
    from ..backends.defect_typer import DefectTyper

    return DefectNaming(DefectTyper(model.defect_types, model.device, model.threads), stages)
