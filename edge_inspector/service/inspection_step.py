"""The per-frame inspection: one frame through the scorer and the settings in force to one Inspection.

Runs on the inspection thread only. A scorer exception or a non-finite score or map is a FAULT, never an
exception out of here: one bad frame or model output must not stop the line. Failures in a row are counted
so the daemon can give up (inspection.max_scorer_failures) and let the service manager restart it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from ..types import Box, DroppedFrame, Frame, Inspection, Verdict

if TYPE_CHECKING:
    from ..backends import Backend
    from .defect_naming import DefectNaming
    from .profile_settings import InspectionSettings
    from .run_state import RunState
    from .what_if import InspectionMemory

log = logging.getLogger(__name__)


class InspectionStep:
    """Judges frames for one run; records stage times, counts and latencies in the run state."""

    def __init__(self, state: RunState, memory: InspectionMemory | None) -> None:
        self.state, self.memory = state, memory
        self.failing = 0  # scorer failures in a row
        self.last_error = ""  # the last one's first line, capped
        self.naming: DefectNaming | None = None  # model.defect_types: names the defect of each FAIL

    def inspect(self, frame: Frame, backend: Backend) -> Inspection:
        """The verdict of one frame (FAULT when the scorer fails or its output is not finite)."""
        st = self.state
        settings = st.settings  # one frame, one set of numbers: the verdict reports the threshold that judged
        t0 = time.monotonic()
        try:
            amap = backend.infer([frame.image])[0]
            t1 = time.monotonic()
            inference_ms = (t1 - t0) * 1000.0
            st.stages.add("infer", inference_ms)
            score = float(amap.score)
            if not math.isfinite(score):
                raise ValueError(f"scorer returned a non-finite score ({score})")
            # min and max are finite only when every value is (NaN propagates); count only on failure
            if not (math.isfinite(float(amap.map.min())) and math.isfinite(float(amap.map.max()))):
                bad = int(amap.map.size - np.count_nonzero(np.isfinite(amap.map)))
                raise ValueError(f"anomaly map has {bad} non-finite values")
            t2 = time.monotonic()
            st.stages.add("check", (t2 - t1) * 1000.0)
            verdict, boxes, reason, judged_score = settings.judge_scored(amap.map, score)
            st.stages.add("postprocess", (time.monotonic() - t2) * 1000.0)
        except Exception as exc:  # noqa: BLE001 - one bad frame or model output must not stop the line
            if st.summary.scorer_errors < 10 or st.summary.scorer_errors % 1000 == 0:
                log.warning("scorer failed on seq %d: %s", frame.seq, exc, exc_info=not isinstance(exc, ValueError))
            st.summary.scorer_errors += 1
            self.failing += 1
            self.last_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            return self._finish(frame, settings, Verdict.FAULT, None, (), f"scorer error: {exc}", 0.0, None)
        self.failing = 0
        # the model's whole-frame score is kept for what-if replays, which judge it again like this frame
        return self._finish(frame, settings, verdict, judged_score, boxes, reason, inference_ms, amap.map, score)

    def open_naming(self) -> None:
        """Load model.defect_types's classifier (BackendError, one line, when it cannot be); nothing without it."""
        from .defect_naming import open_defect_naming

        self.naming = open_defect_naming(self.state.cfg.model, self.state.stages)

    def close(self) -> None:
        """Release the defect-type classifier, if there is one."""
        if self.naming is not None:
            self.naming.close()

    def not_inspected(self, d: DroppedFrame) -> Inspection:
        """The FAULT of a frame that was never scored (dropped, unreadable, a part no frame came for); counted."""
        st = self.state
        st.summary.count_drop(d.kind)
        st.summary.count(Verdict.FAULT)
        return Inspection(
            seq=d.seq, source_index=d.source_index, name=d.name, captured_at=d.captured_at,
            decided_at=time.time(), verdict=Verdict.FAULT, score=None, threshold=st.threshold,
            reason=d.reason if d.kind == "trigger_timeout" else f"frame not inspected: {d.reason}",
            latency_ms=(time.monotonic() - d.captured_mono) * 1000.0, model_id=st.model_id, part_id=d.part_id,
        )

    def gave_up(self, limit: int | None) -> str | None:
        """Why to stop after `limit` scorer failures in a row (inspection.max_scorer_failures; 0/None: never)."""
        if not limit or self.failing < limit:
            return None
        return (f"the scorer failed on {self.failing} frames in a row (last: {self.last_error}); "
                "stopping so that the service manager restarts it")

    def _finish(
        self,
        frame: Frame,
        settings: InspectionSettings,
        verdict: Verdict,
        score: float | None,
        boxes: tuple[Box, ...],
        reason: str,
        inference_ms: float,
        amap: np.ndarray | None,
        model_score: float | None = None,
    ) -> Inspection:
        st = self.state
        # before the latency is taken: naming the defect is part of deciding the verdict
        defect = self.naming.name(frame.image, frame.seq) if verdict is Verdict.FAIL and self.naming else None
        latency_ms = (time.monotonic() - frame.captured_mono) * 1000.0
        deadline = st.cfg.inspection.deadline_ms
        if deadline is not None and latency_ms > deadline and verdict is not Verdict.FAULT:
            reason = f"deadline missed: decided {latency_ms:.0f} ms after capture > {deadline:.0f} ms ({reason})"
            verdict = Verdict.FAULT
            defect = None
            st.summary.deadline_missed += 1
        st.summary.count(verdict)
        st.latency.add(latency_ms)
        if score is not None:
            st.inference.add(inference_ms)
            if amap is not None and self.memory is not None:
                self.memory.add(frame.seq, frame.name, score if model_score is None else model_score, verdict, amap,
                                settings)
        return Inspection(
            seq=frame.seq, source_index=frame.source_index, name=frame.name, captured_at=frame.captured_at,
            decided_at=time.time(), verdict=verdict, score=score, threshold=settings.threshold, boxes=tuple(boxes),
            reason=reason, latency_ms=latency_ms, inference_ms=inference_ms, model_id=st.model_id,
            part_id=frame.part_id, image=frame.image, anomaly_map=amap, defect_type=defect,
        )
