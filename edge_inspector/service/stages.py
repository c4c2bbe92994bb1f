"""Where the time of one frame goes: a bounded latency recorder per pipeline stage.

The daemon and its sinks record each stage as it runs (inference, postprocess, spool, audit, and on the
image worker annotate, evidence, video), so the run summary and `edge-inspector bench` can show the
pipeline's own overhead stage by stage. Memory is constant: one LatencyRecorder per stage name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .stats import LatencyRecorder, LatencyStats

# Stages of the inspection thread, in pipeline order (the image worker's follow in WORKER_STAGES).
INSPECTION_STAGES = ("queue_wait", "infer", "check", "postprocess", "defect_type", "contract", "spool", "handoff",
                     "audit", "hook", "inspect_total")  # defect_type: FAILs only, with model.defect_types
WORKER_STAGES = ("annotate", "evidence", "video")


class StageTimes:
    """Named LatencyRecorders created on first use; add() and time() are safe from any thread."""

    def __init__(self, reservoir: int = 2_000, window: int = 256) -> None:
        self._reservoir, self._window = reservoir, window
        self._recorders: dict[str, LatencyRecorder] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, ms: float) -> None:
        """Record `ms` milliseconds spent in `stage`."""
        recorder = self._recorders.get(stage)
        if recorder is None:
            with self._lock:
                recorder = self._recorders.setdefault(stage, LatencyRecorder(self._reservoir, self._window))
        recorder.add(max(0.0, ms))

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        """Record the time the `with` block takes (also when it raises)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1000.0)

    def totals(self) -> dict[str, LatencyStats]:
        """Whole-run statistics per stage; known stages in pipeline order, then any others by name."""
        with self._lock:
            recorders = dict(self._recorders)
        order = [s for s in INSPECTION_STAGES + WORKER_STAGES if s in recorders]
        order += sorted(set(recorders) - set(order))
        return {stage: recorders[stage].total() for stage in order}
