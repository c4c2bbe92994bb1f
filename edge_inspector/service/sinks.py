"""Fan one Inspection out to every sink: evidence images, audit log, MQTT, annotated video.

Order matters: evidence first so the audit line and the operator can point at the file.
A failing sink is logged and counted; it never stops the inspection loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..annotate import annotate
from ..config import Config
from ..publish import AuditLog, EvidenceWriter, MqttConnectError, MqttPublisher
from ..types import Inspection

log = logging.getLogger(__name__)


class Sinks:
    """Owns the output side of the daemon; open with start(), close with stop()."""

    def __init__(self, cfg: Config, on_inspection: Callable[[Inspection], None] | None = None) -> None:
        out = cfg.output
        assert out.audit_log is not None and out.evidence_dir is not None  # filled by the loader
        self.cfg = cfg
        self.audit = AuditLog(out.audit_log)
        self.evidence = EvidenceWriter(out.evidence_dir, save_pass=out.save_pass_evidence)
        self.mqtt = MqttPublisher(cfg.mqtt, cfg.station_id) if cfg.mqtt.enabled else None
        self.video_path: Path | None = out.annotated_video
        self._video: cv2.VideoWriter | None = None
        self._on_inspection = on_inspection
        self.errors = 0

    def start(self) -> None:
        """Connect MQTT. A broker that is down at start is not fatal: paho keeps retrying."""
        if self.mqtt is not None:
            try:
                self.mqtt.start()
            except MqttConnectError as exc:
                log.error("%s; verdicts are queued until the broker is reachable", exc)

    def emit(self, inspection: Inspection) -> None:
        """Deliver one inspection to every sink, in order."""
        annotated = None
        if inspection.image is not None:
            annotated = annotate(inspection.image, inspection, inspection.anomaly_map)
        evidence = None
        try:
            evidence = self.evidence.write(inspection, annotated)
        except Exception:  # noqa: BLE001 - a full disk must not stop verdicts
            self.errors += 1
            log.exception("evidence write failed for seq %d", inspection.seq)
        try:
            self.audit.write(inspection, self.cfg.station_id, evidence=evidence)
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("audit write failed for seq %d", inspection.seq)
        if self.mqtt is not None:
            self.mqtt.publish_inspection(inspection)
        if self.video_path is not None and annotated is not None:
            self._write_video(annotated)
        if self._on_inspection is not None:
            self._on_inspection(replace(inspection, image=None, anomaly_map=None))

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

    def stop(self) -> None:
        """Flush and close everything; publishes the retained offline status."""
        if self.mqtt is not None:
            self.mqtt.stop()
        self.audit.close()
        if self._video is not None:
            self._video.release()
