"""What one daemon run did, printed at shutdown (and by the demo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..types import Verdict
from .stats import LatencyStats

if TYPE_CHECKING:
    from ..capture import CaptureThread
    from .sinks import Sinks
    from .stages import StageTimes
    from .stats import LatencyRecorder


@dataclass
class RunSummary:
    """Counts of one run. `frames` counts verdicts; drops are split by cause."""

    run_id: str = ""
    frames: int = 0
    passed: int = 0
    failed: int = 0
    faults: int = 0
    dropped: int = 0  # queue full (scorer slower than the source) or still queued at shutdown
    unreadable: int = 0  # frames that exist but could not be decoded
    unsupported: int = 0  # frames the capture could not convert to 8-bit BGR
    trigger_timeouts: int = 0  # parts the PLC announced that no frame came for (FAULT with their part id)
    scorer_errors: int = 0  # exceptions and non-finite scores or maps
    deadline_missed: int = 0
    seconds: float = 0.0
    latency: LatencyStats = field(default_factory=lambda: LatencyStats.of([]))
    inference: LatencyStats = field(default_factory=lambda: LatencyStats.of([]))
    mqtt: dict[str, Any] = field(default_factory=dict)
    sink_errors: int = 0
    sink_errors_by: dict[str, int] = field(default_factory=dict)
    sink_drops: dict[str, int] = field(default_factory=dict)  # outputs skipped because a sink's queue was full
    stages: dict[str, LatencyStats] = field(default_factory=dict)  # time per pipeline stage (service/stages.py)
    capture_error: str | None = None
    capture_state: str = ""

    def count(self, verdict: Verdict) -> None:
        """One more verdict of this kind."""
        self.frames += 1
        if verdict is Verdict.PASS:
            self.passed += 1
        elif verdict is Verdict.FAIL:
            self.failed += 1
        else:
            self.faults += 1

    def count_drop(self, kind: str) -> None:
        """One more frame that was not inspected, by the capture's reason kind."""
        if kind == "trigger_timeout":
            self.trigger_timeouts += 1
        elif kind == "unreadable":
            self.unreadable += 1
        elif kind == "unsupported":
            self.unsupported += 1
        else:
            self.dropped += 1

    def finish(self, seconds: float, latency: LatencyRecorder, inference: LatencyRecorder, stages: StageTimes,
               capture: CaptureThread, sinks: Sinks) -> RunSummary:
        """Fill in what is only known at the end (from the run's recorders, capture and sinks); returns self."""
        self.seconds = seconds
        self.latency = latency.total()
        self.inference = inference.total()
        self.mqtt = dict(sinks.sender.stats().__dict__) if sinks.sender is not None else {}
        self.sink_errors = sinks.total_errors
        self.sink_errors_by = {k: v for k, v in sinks.errors.items() if v}
        self.sink_drops = {k: v for k, v in sinks.dropped.items() if v}
        self.stages = stages.totals()
        self.capture_error = repr(capture.error) if capture.error else None
        self.capture_state = capture.health().state
        return self

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        mqtt = "disabled"
        if self.mqtt:
            m = self.mqtt
            mqtt = (f"published {m['published']} (replayed {m['replayed']}), acknowledged {m['acknowledged']}, "
                    f"left in spool {m['depth']}, reconnects {m['reconnects']}")
        return [
            f"run {self.run_id}: frames {self.frames}: PASS {self.passed}, FAIL {self.failed}, FAULT {self.faults}"
            f" (dropped {self.dropped}, unreadable {self.unreadable}, unsupported {self.unsupported},"
            f" scorer errors {self.scorer_errors}, deadline missed {self.deadline_missed}"
            + (f", trigger timeouts {self.trigger_timeouts})" if self.trigger_timeouts else ")"),
            f"capture-to-verdict latency: {self.latency}",
            f"inference latency: {self.inference}",
            f"throughput {fps:.1f} frames/s over {self.seconds:.1f} s; capture {self.capture_state or 'n/a'}",
            f"mqtt: {mqtt}; sink errors {self.sink_errors}"
            + (f" {self.sink_errors_by}" if self.sink_errors_by else "")
            + (f"; sink drops (queue full) {self.sink_drops}" if self.sink_drops else ""),
        ] + ([f"capture error: {self.capture_error}"] if self.capture_error else []) + self._stage_line()

    def _stage_line(self) -> list[str]:
        shown = {k: v for k, v in self.stages.items() if v.n and k != "inspect_total"}
        if not shown:
            return []
        return ["time per stage, mean ms: " + ", ".join(f"{k} {v.mean:.2f}" for k, v in shown.items())]
