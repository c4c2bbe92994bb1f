"""The inspection daemon: capture thread -> bounded queue -> scorer -> postprocess -> sinks.

One stop event ends everything; every queue get has a timeout so shutdown never hangs.
Every frame the camera delivered gets exactly one verdict, in sequence order: frames the capture
thread had to drop, frames it could not decode or represent, frames the scorer failed on (an
exception or a non-finite score), frames decided after their deadline and frames still queued at
shutdown are published as FAULT (fail closed). A camera that delivers nothing is not a part: it is
reported on the status topic and in stats, and the systemd watchdog is pinged only on progress.
The time of every stage is recorded (stages.py; in the summary and `edge-inspector bench`). At
shutdown the image worker finishes the evidence it accepted before the last stats are sent.
"""

from __future__ import annotations

import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..backends import Backend, BackendOptions, create_backend
from ..capture import END_OF_STREAM, CaptureThread, FrameSource, open_source
from ..config import Config
from ..publish.contract import encode
from ..types import Box, DroppedFrame, Frame, Inspection, Verdict
from .between_frames import BetweenFrames
from .commands import CommandProcessor
from .control import DaemonControl
from .live_view import LiveView

if TYPE_CHECKING:
    from .metrics import Metrics
from .monitor import Monitor
from .profile_settings import InspectionSettings, resolve_settings
from .sdnotify import SystemdNotifier
from .sinks import Sinks
from .stages import StageTimes
from .stats import LatencyRecorder
from .stop import flush_at_stop
from .summary import RunSummary
from .triggers import TriggerMatcher
from .verdict_order import DropOrder
from .what_if import InspectionMemory

__all__ = ["Daemon", "RunSummary", "StartFrontEnd", "new_run_id"]

log = logging.getLogger(__name__)
# Starts a front end (the dashboard) on the daemon's control; returns the function that stops it.
StartFrontEnd = Callable[[DaemonControl], Callable[[], None]]


def new_run_id(now: float | None = None) -> str:
    """One id per daemon start, sortable by time: 20261129T231500Z-3fa9c1."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


class Daemon:
    """Wires the stages together. Call run() from the main thread; stop() from anywhere."""

    def __init__(
        self,
        cfg: Config,
        *,
        backend: Backend | None = None,
        source: FrameSource | None = None,
        on_inspection: Callable[[Inspection], None] | None = None,
        run_id: str | None = None,
        front_end: StartFrontEnd | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_id = run_id or new_run_id()
        self.stop_event = threading.Event()
        self._backend = backend
        self._source = source
        self._on_inspection = on_inspection
        self.notifier = SystemdNotifier()
        self.summary = RunSummary(run_id=self.run_id)
        self.latency = LatencyRecorder()
        self.inference = LatencyRecorder()
        self.stages = StageTimes()  # time per pipeline stage (summary, bench)
        self.model_id = ""
        self.order = DropOrder()  # FAULTs without an inspection wait for every lower seq's verdict
        self.settings = InspectionSettings(float("nan"), float("nan"), cfg.inspection)
        self.commands: CommandProcessor | None = None  # with mqtt.commands or the dashboard, made by run()
        self._front_end = front_end
        d = cfg.dashboard
        with_commands = cfg.mqtt.commands or d.enabled
        self.memory = InspectionMemory(d.what_if_frames, int(d.what_if_max_mb * 1024 * 1024)) \
            if with_commands and d.what_if_frames > 0 else None  # for what-if replays
        self.live = LiveView() if d.enabled else None
        self.between = BetweenFrames()  # uploaded images judged between two frames
        self.triggers: TriggerMatcher | None = None  # trigger.mode mqtt, made by run()
        self.loop_turned = time.monotonic()  # /healthz: the inspection loop is alive
        self.failing_scorer = 0  # scorer failures in a row
        self.fatal: str | None = None  # why the daemon gave up (the scorer fails on every frame); exit 1
        self.last_scorer_error = ""
        self.metrics: Metrics | None = None
        if cfg.metrics.enabled:
            from .metrics import Metrics

            self.metrics = Metrics(self, cfg.metrics)

    def use_settings(self, settings: InspectionSettings) -> None:
        """Judge the next frames with `settings`; call on the inspection thread only (between two frames)."""
        self.settings = settings

    @property
    def threshold(self) -> float:
        """The image threshold in force (read from the settings: there is no second copy to drift)."""
        return self.settings.threshold

    @property
    def pixel_threshold(self) -> float:
        """The pixel threshold in force."""
        return self.settings.pixel_threshold

    def stop(self) -> None:
        """Ask the daemon to finish; safe from signal handlers and other threads."""
        self.stop_event.set()

    def run(self) -> RunSummary:
        """Run until the source ends or stop() is called; returns the summary."""
        cfg = self.cfg
        m = cfg.model
        assert m.path is not None  # checked by the config loader
        options = BackendOptions(threads=m.threads, precision=m.precision, max_batch=m.max_batch,
                                 cuda_graph=m.cuda_graph, tiling=m.tiling.spec())
        backend = self._backend or create_backend(m.backend, m.path, m.device, options)
        meta = backend.metadata
        self.use_settings(resolve_settings(cfg, meta, m.path))
        self.model_id = backend.model_id
        backend.warmup()
        log.info("run %s: model %s (%s) on %s; threshold %.4f, pixel threshold %.4f", self.run_id,
                 backend.model_id, meta.kind, backend.name, self.threshold, self.pixel_threshold)
        # before the sinks open files: a bad source leaves nothing open
        source = self._source or open_source(cfg.source)
        if self._source is not None:
            source.open()
        observers: list[Callable[[Inspection, Path | None], None]] = []
        if self.live is not None:
            observers.append(self.live.observe)
        if self.metrics is not None:
            observers.append(self.metrics.observe)
        sinks = Sinks(cfg, self.run_id, self._on_inspection, stages=self.stages, observers=observers)
        frames: queue.Queue[object] = queue.Queue(maxsize=cfg.source.queue_size)
        if self.settings.profile_status is not None:
            sinks.set_status(model_id=self.model_id, profile=self.settings.profile_status)
        else:
            sinks.set_status(model_id=self.model_id)
        self._open_commands(sinks)
        self._open_triggers(sinks, source)
        sinks.start(self.stop_event)
        src = cfg.source
        capture = CaptureThread(
            source, frames, self.stop_event, pacing=src.pacing, fps=src.fps,
            max_consecutive_failures=src.max_consecutive_failures, reconnect_seconds=src.reconnect_seconds,
            reconnect_max_seconds=src.reconnect_max_seconds,
            stall_seconds=src.stall_seconds, idle_ok=src.idle_ok, bit_depth=src.bit_depth,
        )
        monitor = Monitor(self, capture, sinks)
        try:
            if self.metrics is not None:
                self.metrics.attach(capture, sinks)
                self.metrics.serve()
            stop_front_end = self._start_front_end(backend, capture, sinks)
        except BaseException:  # a front end that cannot start (port taken, no token): no run, nothing left open
            if self.metrics is not None:
                self.metrics.close()
            sinks.stop(1.0)
            source.close()
            raise
        started = time.monotonic()
        capture.start()
        self.notifier.notify("READY=1")
        try:
            self._loop(capture, frames, backend, sinks, monitor)
        finally:
            self.notifier.notify("STOPPING=1")
            self.stop_event.set()
            grace = cfg.output.shutdown_grace  # the whole shutdown fits in it (systemd's TimeoutStopSec is larger)
            until = time.monotonic() + grace
            capture.join(timeout=grace / 4)
            flush_at_stop(capture, frames, grace / 2, lambda frame: self._judge(frame, backend, sinks),
                          lambda dropped, before, final: self._emit_dropped(dropped, sinks, before, final))
            sinks.drain(max(0.5, (until - time.monotonic()) / 2))  # evidence of the last parts, then final stats
            monitor.final(sinks)
            sinks.stop(max(0.5, until - time.monotonic()))
            stop_front_end()
            if self.metrics is not None:
                self.metrics.close()
            if self._backend is None:
                backend.close()
        return self.summary.finish(time.monotonic() - started, self, capture, sinks)

    def _loop(
        self, capture: CaptureThread, frames: queue.Queue[object], backend: Backend, sinks: Sinks, monitor: Monitor
    ) -> None:
        while not self.stop_event.is_set():
            self.loop_turned = time.monotonic()
            monitor.tick()
            self._expire_triggers(capture, sinks)
            if self.commands is not None:
                self.commands.apply_pending()  # between two frames: no frame is judged with a mix
            self.between.run_pending()
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
            item = self._with_part_id(item)
            t0 = time.perf_counter()
            self.stages.add("queue_wait", (time.monotonic() - item.captured_mono) * 1000.0)
            self._emit_dropped(capture.take_dropped(), sinks, before=item.seq)
            self._judge(item, backend, sinks)
            self.stages.add("inspect_total", (time.perf_counter() - t0) * 1000.0)
            if self._scorer_gave_up(sinks):
                return

    def _scorer_gave_up(self, sinks: Sinks) -> bool:
        """After inspection.max_scorer_failures failures in a row, say why on the status topic and stop: the
        exit code 1 makes systemd restart the process (a sticky GPU error needs a new one)."""
        limit = self.cfg.inspection.max_scorer_failures
        if not limit or self.failing_scorer < limit:
            return False
        self.fatal = (f"the scorer failed on {self.failing_scorer} frames in a row (last: {self.last_scorer_error}); "
                      "stopping so that the service manager restarts it")
        log.error("%s", self.fatal)
        sinks.set_status(scorer={"state": "failed", "consecutive_failures": self.failing_scorer,
                                 "detail": self.last_scorer_error})
        return True

    def _start_front_end(self, backend: Backend, capture: CaptureThread, sinks: Sinks) -> Callable[[], None]:
        if self._front_end is None or self.live is None or self.commands is None:
            return lambda: None
        return self._front_end(DaemonControl(self, backend, capture, sinks, self.live, self.commands,
                                             self.between, self.memory))

    def _open_commands(self, sinks: Sinks) -> None:
        """mqtt.commands: answer on {prefix}/{station}/command/response; the dashboard: answer its HTTP
        request. Both announce on status and audit each change."""
        sender = sinks.sender
        mqtt_commands = self.cfg.mqtt.commands and sender is not None
        if not (mqtt_commands or self.cfg.dashboard.enabled):
            return

        def reply(payload: dict[str, object]) -> None:
            if sender is not None:
                sender.conn.publish(sender.conn.topics.command_response, encode(payload), qos=1)

        self.commands = CommandProcessor(
            self, self.cfg.inspection, self.cfg.station_id, self.run_id, reply=reply,
            announce=lambda status: sinks.set_status(profile=status), audit=sinks.audit.write_event,
            memory=self.memory, max_age_s=self.cfg.mqtt.command_max_age_s)
        if not mqtt_commands or sender is None:
            return
        conn = sender.conn
        # QoS 0: the broker keeps no command for a disconnected daemon (its session is persistent), so a change
        # is carried out now, answered, or not at all; never hours later after the technician gave up.
        conn.subscribe(conn.topics.command, self.commands.submit_json, qos=0)

    def _open_triggers(self, sinks: Sinks, source: FrameSource) -> None:
        """trigger.mode mqtt: subscribe to {prefix}/{station}/trigger (QoS 1: a trigger is a part; one queued
        during an outage and delivered late expires as a FAULT with its part id, it is never lost)."""
        t = self.cfg.trigger
        if t.mode != "mqtt" or sinks.sender is None:
            return
        fire = getattr(source, "trigger", None) if t.fire_source else None
        self.triggers = TriggerMatcher(t.window_ms / 1000.0, fire=fire)
        conn = sinks.sender.conn
        conn.subscribe(conn.topics.trigger, self.triggers.on_trigger_json, qos=1)

    def _with_part_id(self, frame: Frame) -> Frame:
        mode = self.cfg.trigger.mode
        if mode == "frame_id":
            return replace(frame, part_id=frame.name)
        if self.triggers is not None:
            return replace(frame, part_id=self.triggers.match(frame.captured_mono))
        return frame

    def _expire_triggers(self, capture: CaptureThread, sinks: Sinks) -> None:
        """A part the PLC announced and no frame came for: FAULT with its part id, in sequence order."""
        if self.triggers is None:
            return
        for t in self.triggers.expired():
            log.warning("part %s: %s", t.part_id, t.reason)
            self.order.add([DroppedFrame(capture.next_seq(), t.at_wall, t.at_mono, -1, "", t.reason,
                                         kind="trigger_timeout", part_id=t.part_id)])

    def _judge(self, frame: Frame, backend: Backend, sinks: Sinks) -> None:
        sinks.emit(self._inspect(frame, backend))
        self.order.emitted(frame.seq)

    def _emit_dropped(self, dropped: list[DroppedFrame], sinks: Sinks, before: int | None,
                      final: bool = False) -> None:
        self.order.add(dropped)  # it holds back what must wait for a lower seq (verdict_order.py)
        for d in self.order.due(before, final):
            self.summary.count_drop(d.kind)
            self.summary.count(Verdict.FAULT)
            sinks.emit(Inspection(
                seq=d.seq, source_index=d.source_index, name=d.name, captured_at=d.captured_at,
                decided_at=time.time(), verdict=Verdict.FAULT, score=None, threshold=self.threshold,
                reason=d.reason if d.kind == "trigger_timeout" else f"frame not inspected: {d.reason}",
                latency_ms=(time.monotonic() - d.captured_mono) * 1000.0, model_id=self.model_id,
                part_id=d.part_id,
            ))

    def _inspect(self, frame: Frame, backend: Backend) -> Inspection:
        settings = self.settings  # one frame, one set of numbers: the verdict reports the threshold that judged
        t0 = time.monotonic()
        try:
            amap = backend.infer([frame.image])[0]
            t1 = time.monotonic()
            inference_ms = (t1 - t0) * 1000.0
            self.stages.add("infer", inference_ms)
            score = float(amap.score)
            if not math.isfinite(score):
                raise ValueError(f"scorer returned a non-finite score ({score})")
            # min and max are finite only when every value is (NaN propagates); count only on failure
            if not (math.isfinite(float(amap.map.min())) and math.isfinite(float(amap.map.max()))):
                bad = int(amap.map.size - np.count_nonzero(np.isfinite(amap.map)))
                raise ValueError(f"anomaly map has {bad} non-finite values")
            t2 = time.monotonic()
            self.stages.add("check", (t2 - t1) * 1000.0)
            verdict, boxes, reason, judged_score = settings.judge_scored(amap.map, score)
            self.stages.add("postprocess", (time.monotonic() - t2) * 1000.0)
        except Exception as exc:  # noqa: BLE001 - one bad frame or model output must not stop the line
            if self.summary.scorer_errors < 10 or self.summary.scorer_errors % 1000 == 0:
                log.warning("scorer failed on seq %d: %s", frame.seq, exc, exc_info=not isinstance(exc, ValueError))
            self.summary.scorer_errors += 1
            self.failing_scorer += 1
            self.last_scorer_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            return self._finish(frame, settings, Verdict.FAULT, None, (), f"scorer error: {exc}", 0.0, None)
        self.failing_scorer = 0
        # the model's whole-frame score is kept for what-if replays, which judge it again like this frame
        return self._finish(frame, settings, verdict, judged_score, boxes, reason, inference_ms, amap.map, score)

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
        latency_ms = (time.monotonic() - frame.captured_mono) * 1000.0
        deadline = self.cfg.inspection.deadline_ms
        if deadline is not None and latency_ms > deadline and verdict is not Verdict.FAULT:
            reason = f"deadline missed: decided {latency_ms:.0f} ms after capture > {deadline:.0f} ms ({reason})"
            verdict = Verdict.FAULT
            self.summary.deadline_missed += 1
        self.summary.count(verdict)
        self.latency.add(latency_ms)
        if score is not None:
            self.inference.add(inference_ms)
            if amap is not None and self.memory is not None:
                self.memory.add(frame.seq, frame.name, score if model_score is None else model_score, verdict, amap,
                                settings)
        return Inspection(
            seq=frame.seq, source_index=frame.source_index, name=frame.name, captured_at=frame.captured_at,
            decided_at=time.time(), verdict=verdict, score=score, threshold=settings.threshold, boxes=tuple(boxes),
            reason=reason, latency_ms=latency_ms, inference_ms=inference_ms, model_id=self.model_id,
            part_id=frame.part_id, image=frame.image, anomaly_map=amap,
        )
