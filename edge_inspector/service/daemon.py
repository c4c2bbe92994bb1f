"""The inspection daemon: capture thread -> bounded queue -> scorer -> postprocess -> sinks.

One stop event ends everything; every queue get has a timeout so shutdown never hangs.
Every frame the camera delivered gets exactly one verdict, in sequence order: frames the
capture thread had to drop, frames it could not decode, frames the scorer failed on and
frames decided after their deadline are published as FAULT (fail closed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backends import Backend, create_backend
from ..capture import END_OF_STREAM, CaptureThread, open_source
from ..config import Config
from ..postprocess import postprocess
from ..types import Box, DroppedFrame, Frame, Inspection, Verdict
from .sdnotify import SystemdNotifier
from .sinks import Sinks
from .stats import LatencyStats

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one daemon run did; printed at shutdown."""

    frames: int = 0
    passed: int = 0
    failed: int = 0
    faults: int = 0
    dropped: int = 0
    unreadable: int = 0
    scorer_errors: int = 0
    seconds: float = 0.0
    latency: LatencyStats = field(default_factory=lambda: LatencyStats.of([]))
    inference: LatencyStats = field(default_factory=lambda: LatencyStats.of([]))
    mqtt: dict[str, object] = field(default_factory=dict)
    sink_errors: int = 0
    capture_error: str | None = None

    def lines(self) -> list[str]:
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        return [
            f"frames {self.frames}: PASS {self.passed}, FAIL {self.failed}, FAULT {self.faults}"
            f" (dropped {self.dropped}, unreadable {self.unreadable}, scorer errors {self.scorer_errors})",
            f"capture-to-verdict latency: {self.latency}",
            f"inference latency: {self.inference}",
            f"throughput {fps:.1f} frames/s over {self.seconds:.1f} s",
            f"mqtt: {self.mqtt or 'disabled'}; sink errors {self.sink_errors}",
        ] + ([f"capture error: {self.capture_error}"] if self.capture_error else [])


class Daemon:
    """Wires the stages together. Call run() from the main thread; stop() from anywhere."""

    def __init__(
        self,
        cfg: Config,
        *,
        backend: Backend | None = None,
        on_inspection: Callable[[Inspection], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.stop_event = threading.Event()
        self._backend = backend
        self._on_inspection = on_inspection
        self._notifier = SystemdNotifier()
        self.summary = RunSummary()
        self._latencies: list[float] = []
        self._inference: list[float] = []
        self.model_id = ""
        self._pending_drops: list[DroppedFrame] = []
        self.threshold = float("nan")
        self.pixel_threshold = float("nan")

    def stop(self) -> None:
        """Ask the daemon to finish; safe from signal handlers and other threads."""
        self.stop_event.set()

    def run(self) -> RunSummary:
        """Run until the source ends or stop() is called; returns the summary."""
        cfg = self.cfg
        assert cfg.model.path is not None  # checked by the config loader
        backend = self._backend or create_backend(cfg.model.backend, cfg.model.path, cfg.model.device)
        meta = backend.metadata
        self.threshold = meta.image_threshold if cfg.inspection.threshold == "auto" else cfg.inspection.threshold
        self.pixel_threshold = (
            meta.pixel_threshold if cfg.inspection.pixel_threshold == "auto" else cfg.inspection.pixel_threshold
        )
        self.model_id = backend.model_id
        backend.warmup()
        log.info("model %s (%s) on %s; threshold %.4f, pixel threshold %.4f",
                 backend.model_id, meta.kind, backend.name, self.threshold, self.pixel_threshold)
        sinks = Sinks(cfg, self._on_inspection)
        sinks.start()
        frames: queue.Queue[object] = queue.Queue(maxsize=cfg.source.queue_size)
        source = open_source(cfg.source)
        capture = CaptureThread(
            source, frames, self.stop_event, pacing=cfg.source.pacing, fps=cfg.source.fps,
            max_consecutive_failures=cfg.source.max_consecutive_failures,
            reconnect_seconds=cfg.source.reconnect_seconds,
        )
        started = time.monotonic()
        capture.start()
        self._notifier.notify("READY=1")
        try:
            self._loop(capture, frames, backend, sinks)
        finally:
            self._notifier.notify("STOPPING=1")
            self.stop_event.set()
            capture.join(timeout=5.0)
            sinks.stop()
            if self._backend is None:
                backend.close()
        s = self.summary
        s.seconds = time.monotonic() - started
        s.latency = LatencyStats.of(self._latencies)
        s.inference = LatencyStats.of(self._inference)
        s.mqtt = dict(sinks.mqtt.stats().__dict__) if sinks.mqtt is not None else {}
        s.sink_errors = sinks.errors
        s.capture_error = repr(capture.error) if capture.error else None
        return s

    def _loop(self, capture: CaptureThread, frames: queue.Queue[object], backend: Backend, sinks: Sinks) -> None:
        while not self.stop_event.is_set():
            self._notifier.watchdog()
            try:
                item = frames.get(timeout=0.2)
            except queue.Empty:
                self._emit_dropped(capture.take_dropped(), sinks, before=None)
                continue
            if item is END_OF_STREAM:
                self._emit_dropped(capture.take_dropped(), sinks, before=None)
                log.info("source finished")
                return
            assert isinstance(item, Frame)
            self._emit_dropped(capture.take_dropped(), sinks, before=item.seq)
            sinks.emit(self._inspect(item, backend))

    def _emit_dropped(self, dropped: list[DroppedFrame], sinks: Sinks, before: int | None) -> None:
        # Drops newer than the frame in hand wait, so verdicts leave strictly in sequence order.
        self._pending_drops.extend(dropped)
        self._pending_drops.sort(key=lambda d: d.seq)
        due = [d for d in self._pending_drops if before is None or d.seq < before]
        self._pending_drops = self._pending_drops[len(due):]
        for d in due:
            if d.reason.startswith("unreadable"):
                self.summary.unreadable += 1
            else:
                self.summary.dropped += 1
            self._count(Verdict.FAULT)
            sinks.emit(Inspection(
                seq=d.seq, source_index=d.source_index, name=d.name, captured_at=d.captured_at,
                decided_at=time.time(), verdict=Verdict.FAULT, score=None, threshold=self.threshold,
                reason=f"frame not inspected: {d.reason}",
                latency_ms=(time.monotonic() - d.captured_mono) * 1000.0, model_id=self.model_id,
            ))

    def _inspect(self, frame: Frame, backend: Backend) -> Inspection:
        insp = self.cfg.inspection
        t0 = time.monotonic()
        try:
            amap = backend.infer([frame.image])[0]
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the line
            log.exception("scorer failed on seq %d", frame.seq)
            self.summary.scorer_errors += 1
            return self._finish(frame, Verdict.FAULT, None, (), f"scorer error: {exc}", 0.0, backend, None)
        inference_ms = (time.monotonic() - t0) * 1000.0
        verdict, boxes, reason = postprocess(
            amap.map, amap.score, threshold=self.threshold, pixel_threshold=self.pixel_threshold, cfg=insp
        )
        return self._finish(frame, verdict, amap.score, boxes, reason, inference_ms, backend, amap.map)

    def _finish(
        self,
        frame: Frame,
        verdict: Verdict,
        score: float | None,
        boxes: tuple[Box, ...],
        reason: str,
        inference_ms: float,
        backend: Backend,
        amap: np.ndarray | None,
    ) -> Inspection:
        latency_ms = (time.monotonic() - frame.captured_mono) * 1000.0
        deadline = self.cfg.inspection.deadline_ms
        if deadline is not None and latency_ms > deadline and verdict is not Verdict.FAULT:
            reason = f"deadline missed: decided {latency_ms:.0f} ms after capture > {deadline:.0f} ms ({reason})"
            verdict = Verdict.FAULT
        self._count(verdict)
        self._latencies.append(latency_ms)
        if score is not None:
            self._inference.append(inference_ms)
        return Inspection(
            seq=frame.seq, source_index=frame.source_index, name=frame.name, captured_at=frame.captured_at,
            decided_at=time.time(), verdict=verdict, score=score, threshold=self.threshold, boxes=tuple(boxes),
            reason=reason, latency_ms=latency_ms, inference_ms=inference_ms, model_id=backend.model_id,
            image=frame.image, anomaly_map=amap,
        )

    def _count(self, verdict: Verdict) -> None:
        self.summary.frames += 1
        if verdict is Verdict.PASS:
            self.summary.passed += 1
        elif verdict is Verdict.FAIL:
            self.summary.failed += 1
        else:
            self.summary.faults += 1
