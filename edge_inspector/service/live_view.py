"""What the dashboard shows live: counts, the score trend, recent rejects and the newest frame.

observe() is a sink (Sinks calls it for every inspection, on the inspection thread): it only stores
references and small dicts under a lock. The newest frame is annotated and JPEG-encoded on request, on
the HTTP thread, and cached by seq, so a browser watching costs the line nothing.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2

from ..publish.annotate import annotate
from ..types import Inspection, Verdict

TREND = 300  # scores kept for the trend plot
REJECTS = 200  # FAIL/FAULT records kept for the gallery
FRAME_WIDTH = 960  # the live JPEG is scaled down to at most this width


def record(inspection: Inspection, evidence: Path | None) -> dict[str, Any]:
    """One inspection as the dashboard's JSON carries it (docs/dashboard.md, Record); no images."""
    score = inspection.score if inspection.score is not None and math.isfinite(inspection.score) else None
    return {"seq": inspection.seq, "name": inspection.name, "verdict": Verdict(inspection.verdict).value,
            "score": score, "threshold": inspection.threshold if math.isfinite(inspection.threshold) else None,
            "reason": inspection.reason, "decided_at": inspection.decided_at,
            "boxes": [asdict(b) for b in inspection.boxes], "latency_ms": round(inspection.latency_ms, 3),
            "evidence": evidence is not None}


class LiveView:
    """Thread-safe: observe() from the inspection thread, everything else from HTTP threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys((v.value for v in Verdict), 0)
        self._trend: deque[dict[str, Any]] = deque(maxlen=TREND)
        self._rejects: deque[tuple[dict[str, Any], Path | None]] = deque(maxlen=REJECTS)
        self._latest: Inspection | None = None
        self._latest_record: dict[str, Any] | None = None
        self._frame: tuple[int, bytes] | None = None  # (seq, JPEG) of the last encoded frame

    def observe(self, inspection: Inspection, evidence: Path | None) -> None:
        """Take one inspection (with its image and map, kept by reference until the next one)."""
        rec = record(inspection, evidence)
        with self._lock:
            self.counts[rec["verdict"]] += 1
            if rec["score"] is not None:
                self._trend.append({k: rec[k] for k in ("seq", "score", "verdict", "threshold")})
            if inspection.verdict is not Verdict.PASS:
                self._rejects.append((rec, evidence))
            if inspection.image is not None:  # a dropped frame has nothing to show: keep the last picture
                self._latest = inspection
            self._latest_record = rec

    def summary(self) -> dict[str, Any]:
        """counts, rates, latest record and trend (the live part of /api/state)."""
        with self._lock:
            counts = dict(self.counts)
            latest, trend = self._latest_record, list(self._trend)
        total = sum(counts.values())
        rates = {k.lower(): round(counts[k] / total, 4) if total else 0.0 for k in ("FAIL", "FAULT")}
        return {"counts": {**counts, "total": total}, "rates": rates, "latest": latest, "trend": trend}

    def rejects(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` FAIL/FAULT records, newest first."""
        with self._lock:
            items = list(self._rejects)
        return [rec for rec, _ in reversed(items)][:limit]

    def evidence_of(self, seq: int) -> tuple[dict[str, Any], Path | None] | None:
        """(record, evidence path) of a kept reject, or None when it is not (or no longer) kept."""
        with self._lock:
            for rec, path in self._rejects:
                if rec["seq"] == seq:
                    return rec, path
        return None

    def frame_jpeg(self) -> tuple[int, bytes] | None:
        """(seq, JPEG) of the newest frame, annotated with heatmap, boxes and verdict; None before the first."""
        with self._lock:
            latest, cached = self._latest, self._frame
        if latest is None or latest.image is None:
            return None
        if cached is not None and cached[0] == latest.seq:
            return cached
        image = annotate(latest.image, latest, latest.anomaly_map)
        h, w = image.shape[:2]
        if w > FRAME_WIDTH:
            image = cv2.resize(image, (FRAME_WIDTH, round(h * FRAME_WIDTH / w)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise ValueError(f"frame {latest.seq}: JPEG encoding failed")
        frame = (latest.seq, buf.tobytes())
        with self._lock:
            self._frame = frame
        return frame
