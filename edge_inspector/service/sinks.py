"""Fan one Inspection out to every sink, each isolated: spool/MQTT, audit log, hook, and on the image worker
annotation, evidence and video.

Order matters: the verdict reaches the durable spool first (the sender thread publishes it from there),
so a slow or failing disk for evidence never delays or loses it. The image sinks (annotation, evidence
PNGs, the annotated video) run on one worker thread behind a bounded queue (image_worker.py): the
inspection thread decides where the evidence goes, hands the job over without waiting and writes the
audit line naming that file. A job the full queue refuses is counted per sink in `dropped` (the audit
line then has no evidence); a write that fails later is counted in `errors`. Annotation is drawn only
for frames that get evidence or go to the video. A failing sink is counted per sink and logged (the
first failure with its traceback, later ones at most once a minute); it never stops inspection or
keeps the verdict from the other sinks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from ..config import Config
from ..config.redact import escape_non_utf8
from ..publish import AuditLog, EvidenceWriter, Spool, VerdictSender, encode, verdict_payload
from ..publish.annotate import annotate
from ..publish.capture_notice import capture_payload
from ..publish.contract import REJECT_VERDICTS
from ..publish.retention import RetentionJanitor
from ..sparkplug.build import build_edge_node
from ..sparkplug.edge_node import SparkplugEdgeNode
from ..types import Frame, Inspection, Verdict
from .image_worker import ImageJob, ImageWorker
from .stages import StageTimes

log = logging.getLogger(__name__)
T = TypeVar("T")
SINKS = ("contract", "spool", "annotate", "evidence", "audit", "video", "hook", "observer", "sparkplug")
MB = 1024 * 1024


class Sinks:
    """Owns the output side of the daemon; open with start(), close with stop(grace)."""

    def __init__(
        self, cfg: Config, run_id: str, on_inspection: Callable[[Inspection], None] | None = None,
        stages: StageTimes | None = None, observers: list[Callable[[Inspection, Path | None], None]] | None = None,
    ) -> None:
        out = cfg.output
        assert out.audit_log is not None and out.evidence_dir is not None and cfg.spool.path is not None
        self.cfg, self.run_id = cfg, run_id
        self.audit = AuditLog(out.audit_log, max_bytes=int(out.audit_max_mb * MB),
                              rotate_daily=out.audit_rotate_daily, keep=out.audit_keep)
        self.evidence = EvidenceWriter(out.evidence_dir, save_pass=out.save_pass_evidence, run_id=run_id,
                                       min_free_bytes=int(out.min_free_mb * MB))
        self.sender: VerdictSender | None = None
        if cfg.mqtt.enabled:
            spool = Spool(cfg.spool.path, fsync=cfg.spool.fsync, max_entries=cfg.spool.max_entries,
                          max_age_s=cfg.spool.max_age_hours * 3600.0)
            self.sender = VerdictSender(cfg.mqtt, cfg.station_id, run_id, spool)
        # the Sparkplug B edge node (docs/deploy.md): its own outbox, written here too, and its own sender
        self.sparkplug: SparkplugEdgeNode | None = build_edge_node(cfg, run_id) if cfg.sparkplug.enabled else None
        self.janitor: RetentionJanitor | None = None
        self.video_path: Path | None = out.annotated_video
        self._video: cv2.VideoWriter | None = None
        self._on_inspection = on_inspection
        # the dashboard's live view, the metrics: the whole inspection and its evidence path
        self._observers = list(observers or [])
        self.errors: dict[str, int] = dict.fromkeys(SINKS, 0)
        self.dropped: dict[str, int] = dict.fromkeys(SINKS, 0)
        self._last_log: dict[str, float] = {}
        self._lock = threading.Lock()  # errors and drops are counted on two threads
        self.stages = stages if stages is not None else StageTimes()
        self.worker: ImageWorker | None = None  # started by start(); without it the image sinks run inline

    def start(self, stop_event: threading.Event) -> None:
        """Connect MQTT (a broker that is down is not fatal); start the evidence janitor and the image worker."""
        if self.sender is not None:
            self.sender.start()
        if self.sparkplug is not None:
            self.sparkplug.start()
        out = self.cfg.output
        assert out.evidence_dir is not None
        self.janitor = RetentionJanitor(out.evidence_dir, out.evidence_max_age_days * 86400.0,
                                        int(out.evidence_max_mb * MB), 300.0, stop_event)
        self.janitor.start()
        self.worker = ImageWorker(self._render, self._count_drop)
        self.worker.start()

    def emit(self, inspection: Inspection) -> None:
        """Deliver one inspection to every sink; never raises."""
        part = inspection.part_id
        texts = (escape_non_utf8(inspection.name), escape_non_utf8(inspection.reason),
                 None if part is None else escape_non_utf8(part))
        if texts != (inspection.name, inspection.reason, part):
            # a file name that is not valid UTF-8 (a lone surrogate from the folder source): escaped, not fatal
            inspection = replace(inspection, name=texts[0], reason=texts[1], part_id=texts[2])
        encoded = self._guard("contract", lambda: self._encode(inspection))
        if encoded is None:  # cannot happen for values the daemon produces; still, the part gets a verdict
            inspection = replace(inspection, verdict=Verdict.FAULT, score=None, boxes=(), defect_type=None,
                                 reason=f"verdict could not be encoded ({inspection.reason})")
            encoded = self._encode(inspection)
        record, payload = encoded
        if self.sender is not None:
            sender = self.sender
            self._guard("spool", lambda: sender.submit(self.run_id, inspection.seq, payload,
                                                       inspection.verdict in REJECT_VERDICTS))
        if self.sparkplug is not None:
            node = self.sparkplug
            self._guard("sparkplug", lambda: node.submit(self.run_id, inspection.seq, payload,
                                                         inspection.verdict in REJECT_VERDICTS))
        evidence = self._guard("evidence", lambda: self.evidence.plan(inspection), stage="evidence_plan")
        video = self.video_path is not None
        if inspection.image is not None and (evidence is not None or video):
            job = ImageJob(inspection, evidence, video)
            if self.worker is None:
                self._render(job)
            else:
                t0 = time.perf_counter()
                accepted = self.worker.submit(job)
                self.stages.add("handoff", (time.perf_counter() - t0) * 1000.0)
                if not accepted:
                    self._count_drop(job)
                    evidence = None
        self._guard("audit", lambda: self.audit.write(record, evidence=evidence))
        for observer in self._observers:
            planned = evidence
            self._guard("observer", lambda: observer(inspection, planned))  # noqa: B023 - called at once
        if self._on_inspection is not None:
            hook = self._on_inspection
            self._guard("hook", lambda: hook(replace(inspection, image=None, anomaly_map=None)))

    def _encode(self, inspection: Inspection) -> tuple[dict[str, Any], bytes]:
        """The verdict's contract object and its bytes, both or neither (encoding can fail on the text)."""
        record = verdict_payload(inspection, self.cfg.station_id, self.run_id)
        return record, encode(record)

    def _render(self, job: ImageJob) -> None:
        """The image sinks for one inspection (on the worker): annotate, evidence, video."""
        inspection = job.inspection
        image = inspection.image
        if image is None:
            return
        annotated = self._guard("annotate", lambda: annotate(image, inspection, inspection.anomaly_map))
        path = job.evidence_path
        if path is not None:
            self._guard("evidence", lambda: self.evidence.write_planned(inspection, annotated, path))
        if job.video and annotated is not None:
            frame = annotated
            self._guard("video", lambda: self._write_video(frame))

    def _count_drop(self, job: ImageJob) -> None:
        now = time.monotonic()
        with self._lock:
            if job.evidence_path is not None:
                self.dropped["evidence"] += 1
            if job.video:
                self.dropped["video"] += 1
            total = self.dropped["evidence"] + self.dropped["video"]
            due = now - self._last_log.get("dropped", -60.0) >= 60.0
            if due:
                self._last_log["dropped"] = now
        if due:  # once a minute at most: an overloaded disk must not also flood the journal
            log.warning("image sinks busy: evidence/video of seq %d dropped (%d drops so far, counted)",
                        job.inspection.seq, total)

    def _guard(self, sink: str, call: Callable[[], T], stage: str | None = None) -> T | None:
        try:
            with self.stages.time(stage or sink):
                return call()
        except Exception as exc:  # noqa: BLE001 - one failing sink must not stop the line
            now = time.monotonic()
            with self._lock:
                self.errors[sink] += 1
                count = self.errors[sink]
                due = count == 1 or now - self._last_log.get(sink, 0.0) >= 60.0
                if due:
                    self._last_log[sink] = now
            if count == 1:
                log.exception("sink %s failed (counted; inspection goes on)", sink)
            elif due:
                log.error("sink %s failed again: %s (%d failures so far)", sink, exc, count)
            return None

    def _write_video(self, frame: np.ndarray) -> None:
        if self._video is None:
            assert self.video_path is not None
            self.video_path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(*("mp4v" if self.video_path.suffix == ".mp4" else "MJPG"))
            h, w = frame.shape[:2]
            self._video = cv2.VideoWriter(str(self.video_path), fourcc, 10.0, (w, h))
            if not self._video.isOpened():
                log.error("cannot write annotated video %s; disabled", self.video_path)
                self.video_path = None
                return
        self._video.write(frame)

    def set_status(self, **extra: Any) -> None:
        """Merge keys into the retained status (capture state, model id ...)."""
        if self.sender is not None:
            self.sender.conn.set_status(**extra)
        if self.sparkplug is not None:
            self.sparkplug.set_status(**extra)

    def capture_notice(self) -> Callable[[Frame], None] | None:
        """The capture thread's hook that announces each numbered frame on `{station}/captured` (QoS 1, not
        spooled: worth something only until the part reaches the ejector), or None (mqtt.announce_captures off)."""
        sender = self.sender
        if sender is None or not self.cfg.mqtt.announce_captures:
            return None
        topic, station = sender.conn.topics.captured, self.cfg.station_id

        def announce(frame: Frame) -> None:
            payload = capture_payload(station, self.run_id, frame.seq, frame.captured_at)
            self._guard("contract", lambda: sender.publish_extra(topic, payload, qos=1))

        return announce

    def publish_stats(self, payload: dict[str, Any]) -> None:
        """Send one stats message (QoS 0, not spooled: telemetry, not a verdict)."""
        if self.sender is not None:
            sender = self.sender
            self._guard("contract", lambda: sender.publish_extra(sender.conn.topics.stats, encode(payload)))

    @property
    def total_errors(self) -> int:
        """Sink failures of all kinds."""
        return sum(self.errors.values())

    def drain(self, timeout: float) -> None:
        """Let the image worker finish the jobs it accepted, for at most `timeout` seconds; the rest are
        dropped and counted. Call before the last stats so that they count every evidence error."""
        if self.worker is not None:
            self.worker.close(timeout)

    def stop(self, grace: float) -> None:
        """Flush and close everything: the sender gets `grace` seconds to deliver the backlog, then goes offline."""
        self.drain(min(grace, 2.0))
        if self.sender is not None:
            self._guard("spool", lambda: self.sender.stop(grace) if self.sender is not None else None)
        if self.sparkplug is not None:  # what it cannot send within a second stays in its outbox
            node = self.sparkplug
            self._guard("sparkplug", lambda: node.stop(min(grace, 1.0)))
        self._guard("audit", self.audit.close)
        if self._video is not None and (self.worker is None or not self.worker.is_alive()):
            self._video.release()
