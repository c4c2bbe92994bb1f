"""The inspection daemon: capture thread -> bounded queue -> scorer -> postprocess -> sinks.

It wires the threads; the run's state is one RunState (run_state.py) that monitor, metrics, summary and
control read, and the per-frame inspection is inspection_step.py.

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
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..backends import Backend, BackendOptions, create_backend
from ..capture import END_OF_STREAM, CaptureThread, FrameSource, open_source
from ..config import Config
from ..publish.contract import encode
from ..types import DroppedFrame, Frame, Inspection
from .between_frames import BetweenFrames
from .commands import CommandProcessor
from .control import DaemonControl
from .inspection_step import InspectionStep
from .live_view import LiveView
from .monitor import Monitor
from .profile_settings import resolve_settings
from .run_state import RunState
from .sinks import Sinks
from .stop import flush_at_stop
from .summary import RunSummary
from .triggers import TriggerMatcher
from .verdict_order import DropOrder
from .what_if import InspectionMemory

if TYPE_CHECKING:
    from .prometheus import Metrics

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
        # what monitor, metrics, summary and control read (never the daemon): counts, settings, loop progress
        self.state = RunState(cfg, self.run_id)
        self.summary = self.state.summary  # the same object, returned by run()
        self.stop_event = threading.Event()
        self._backend = backend
        self._source = source
        self._on_inspection = on_inspection
        self.order = DropOrder()  # FAULTs without an inspection wait for every lower seq's verdict
        self.commands: CommandProcessor | None = None  # with mqtt.commands or the dashboard, made by run()
        self._front_end = front_end
        d = cfg.dashboard
        with_commands = cfg.mqtt.commands or d.enabled
        self.memory = InspectionMemory(d.what_if_frames, int(d.what_if_max_mb * 1024 * 1024)) \
            if with_commands and d.what_if_frames > 0 else None  # for what-if replays
        self.live = LiveView() if d.enabled else None
        self.between = BetweenFrames()  # uploaded images judged between two frames
        self.triggers: TriggerMatcher | None = None  # trigger.mode mqtt, made by run()
        self.step = InspectionStep(self.state, self.memory)  # the per-frame inspection
        self.fatal: str | None = None  # why the daemon gave up (the scorer fails on every frame); exit 1
        self.metrics: Metrics | None = None
        if cfg.metrics.enabled:
            from .prometheus import Metrics

            self.metrics = Metrics(self.state, cfg.metrics)

    @property
    def threshold(self) -> float:
        """The image threshold in force (read from the settings: there is no second copy to drift)."""
        return self.state.threshold

    @property
    def pixel_threshold(self) -> float:
        """The pixel threshold in force."""
        return self.state.pixel_threshold

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
        state = self.state
        state.use_settings(resolve_settings(cfg, meta, m.path))
        state.model_id = backend.model_id
        backend.warmup()
        self.step.open_naming()  # model.defect_types: its classifier names the defect of each FAIL
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
        sinks = Sinks(cfg, self.run_id, self._on_inspection, stages=state.stages, observers=observers)
        frames: queue.Queue[object] = queue.Queue(maxsize=cfg.source.queue_size)
        if state.settings.profile_status is not None:
            sinks.set_status(model_id=state.model_id, profile=state.settings.profile_status)
        else:
            sinks.set_status(model_id=state.model_id)
        self._open_commands(sinks)
        self._open_triggers(sinks, source)
        sinks.start(self.stop_event)
        src = cfg.source
        capture = CaptureThread(
            source, frames, self.stop_event, pacing=src.pacing, fps=src.fps,
            max_consecutive_failures=src.max_consecutive_failures, reconnect_seconds=src.reconnect_seconds,
            reconnect_max_seconds=src.reconnect_max_seconds, on_numbered=sinks.capture_notice(),
            stall_seconds=src.stall_seconds, idle_ok=src.idle_ok, bit_depth=src.bit_depth,
        )
        monitor = Monitor(state, capture, sinks)
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
        state.notifier.notify("READY=1")
        try:
            self._loop(capture, frames, backend, sinks, monitor)
        finally:
            state.notifier.notify("STOPPING=1")
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
            self.step.close()
        return self.summary.finish(time.monotonic() - started, state.latency, state.inference, state.stages,
                                   capture, sinks)

    def _loop(
        self, capture: CaptureThread, frames: queue.Queue[object], backend: Backend, sinks: Sinks, monitor: Monitor
    ) -> None:
        while not self.stop_event.is_set():
            self.state.loop_turned = time.monotonic()
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
            self.state.stages.add("queue_wait", (time.monotonic() - item.captured_mono) * 1000.0)
            self._emit_dropped(capture.take_dropped(), sinks, before=item.seq)
            self._judge(item, backend, sinks)
            self.state.stages.add("inspect_total", (time.perf_counter() - t0) * 1000.0)
            if self._scorer_gave_up(sinks):
                return

    def _scorer_gave_up(self, sinks: Sinks) -> bool:
        """After inspection.max_scorer_failures failures in a row, say why on the status topic and stop: the
        exit code 1 makes systemd restart the process (a sticky GPU error needs a new one)."""
        self.fatal = self.step.gave_up(self.cfg.inspection.max_scorer_failures)
        if self.fatal is None:
            return False
        log.error("%s", self.fatal)
        sinks.set_status(scorer={"state": "failed", "consecutive_failures": self.step.failing,
                                 "detail": self.step.last_error})
        return True

    def _start_front_end(self, backend: Backend, capture: CaptureThread, sinks: Sinks) -> Callable[[], None]:
        if self._front_end is None or self.live is None or self.commands is None:
            return lambda: None
        return self._front_end(DaemonControl(self.state, backend, capture, sinks, self.live, self.commands,
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
            self.state, self.cfg.inspection, self.cfg.station_id, self.run_id, reply=reply,
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
        sinks.emit(self.step.inspect(frame, backend))
        self.order.emitted(frame.seq)

    def _emit_dropped(self, dropped: list[DroppedFrame], sinks: Sinks, before: int | None,
                      final: bool = False) -> None:
        self.order.add(dropped)  # it holds back what must wait for a lower seq (verdict_order.py)
        for d in self.order.due(before, final):
            sinks.emit(self.step.not_inspected(d))
