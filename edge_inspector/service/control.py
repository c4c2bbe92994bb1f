"""The running daemon as the dashboard sees it: state to read, commands to send, images to judge.

The dashboard (and any other front end) gets one DaemonControl and nothing else: it reads through it and
changes settings only through the command processor, the same way as the MQTT command topic.
"""

from __future__ import annotations

import math
import queue
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..calibration.history_cache import MAX_LIMIT, READER
from ..config.redact import redact
from ..model.kinds import model_kind
from .between_frames import BetweenFrames
from .commands import CommandProcessor
from .live_view import LiveView
from .what_if import InspectionMemory, settings_view

if TYPE_CHECKING:
    from ..backends import Backend
    from ..capture import CaptureThread
    from .run_state import RunState
    from .sinks import Sinks

COMMAND_WAIT_S = 8.0  # an HTTP command not carried out by then is refused ("expired"), never applied later


class DaemonControl:
    """Built by Daemon.run() once the backend, capture and sinks exist; every method is thread-safe."""

    def __init__(self, run_state: RunState, backend: Backend, capture: CaptureThread, sinks: Sinks, live: LiveView,
                 commands: CommandProcessor, between: BetweenFrames, memory: InspectionMemory | None) -> None:
        self.run_state, self.backend, self.capture, self.sinks = run_state, backend, capture, sinks
        self.live, self.commands, self.between, self.memory = live, commands, between, memory
        self.started = time.monotonic()
        self.history_reader = READER

    @property
    def audit_log(self) -> Path:
        """The current audit file (rotated ones lie beside it)."""
        return self.sinks.audit.path

    def state(self) -> dict[str, Any]:
        """GET /api/state (docs/dashboard.md)."""
        d = self.run_state
        s = d.settings
        settings: dict[str, Any] = {**settings_view(s), "roi": None, "profile": None}
        if s.profile is not None:
            settings["roi"] = None if s.profile.roi is None else list(s.profile.roi)
            settings["profile"] = {"product": s.profile.product, "station": s.profile.station,
                                   "revision": s.profile.revision}
        return {"station_id": d.cfg.station_id, "run_id": d.run_id, "model_id": d.model_id,
                "backend": self.backend.name, "uptime_s": round(time.monotonic() - self.started, 3),
                **self.live.summary(), "settings": settings, "health": self.health(),
                "what_if": {"kept": len(self.memory) if self.memory is not None else 0,
                            "limit": self.memory.frames if self.memory is not None else 0}}

    def health(self) -> dict[str, dict[str, Any]]:
        """Camera, model and broker, each {ok, detail}."""
        cap = self.capture.health()
        camera = {"ok": cap.state in ("starting", "running", "idle"), "detail": redact(f"{cap.state}: {cap.detail}")}
        errors = self.run_state.summary.scorer_errors
        model = {"ok": errors == 0, "detail": f"{self.backend.name}, {errors} scorer error(s)"}
        sender = self.sinks.sender
        if sender is None:
            broker = {"ok": True, "detail": "MQTT off (mqtt.enabled: false)"}
        else:
            st = sender.stats()
            broker = {"ok": bool(st.connected),
                      "detail": f"{'connected' if st.connected else 'disconnected'}, spool depth {st.depth}"}
        return {"camera": camera, "model": model, "broker": broker}

    def command(self, data: Any, timeout: float = COMMAND_WAIT_S) -> dict[str, Any] | None:
        """Carry out one command request (as on the MQTT topic) and return its response; None when the
        request had no readable id (nothing to answer). Refused as expired after `timeout` s."""
        answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self.commands.submit(data, reply=answers.put, expires_in=timeout)
        try:
            return answers.get(timeout=timeout + 5.0)  # the processor always answers an expired request
        except queue.Empty:
            return None

    def history(self, limit: int = MAX_LIMIT, offset: int = 0, before: int | None = None) -> dict[str, Any]:
        """GET /api/history: one page of the profile's revisions, read on the caller's thread (never the
        inspection thread) through a cache; CommandError without a profile, ValueError for bad paging."""
        from .commands import NO_PROFILE, CommandError

        s = self.run_state.settings
        if s.profile is None or s.profile_path is None:
            raise CommandError(NO_PROFILE)
        root = s.profile_path.parent.parent
        page = self.history_reader.page(root, s.profile.product, s.profile.station, limit=limit, offset=offset,
                                        before=before)
        return {"revision": s.profile.revision, **page}

    def upload_pixels(self) -> int:
        """Pixels an upload is scaled down to before it is judged: a line frame's (or the model input's) area,
        so judging an upload costs the inspection thread what one part costs."""
        h, w = self.backend.metadata.input_size
        latest = self.live._latest  # noqa: SLF001 - a read of one reference; LiveView swaps it atomically
        image = None if latest is None else latest.image
        return max(h * w, 0 if image is None else image.shape[0] * image.shape[1])

    def what_if(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Replay `changes` over the kept inspections (CommandError when invalid or busy)."""
        from .commands import CommandError, parse_request

        parse_request({"id": "what-if", "action": "what-if", "set": changes})  # same checks as a command
        if not changes:
            raise CommandError("what-if: give at least one of image_threshold, pixel_threshold, min_area, min_peak")
        return self.commands.what_if(changes)

    def inspect_image(self, image: np.ndarray, timeout: float = COMMAND_WAIT_S) -> dict[str, Any]:
        """Judge an uploaded BGR image on the inspection thread with the backend and settings in force
        (nothing is published or counted); Busy/Expired from between_frames when the line cannot."""
        return self.between.call(lambda: self._judge(image), timeout)  # type: ignore[no-any-return]

    def _judge(self, image: np.ndarray) -> dict[str, Any]:
        s = self.run_state.settings
        amap = self.backend.infer([image])[0]
        score = float(amap.score)
        if not (math.isfinite(score) and np.isfinite(amap.map).all()):
            return {"verdict": "FAULT", "score": None, "threshold": s.threshold, "boxes": [], "anomaly_map": None,
                    "reason": "scorer returned non-finite values", "reconstruction": None, "note": None,
                    "map_name": None}
        verdict, boxes, reason, score = s.judge_scored(amap.map, score)  # the line's score: inspected pixels
        note: str | None
        try:
            reconstruction = self.backend.reconstruct(image)
        except Exception as exc:  # noqa: BLE001 - the verdict stands without the picture
            reconstruction, note = None, f"reconstruction failed: {exc}"
        else:
            note = None if reconstruction is not None else \
                f"reconstruction: not available from the {self.backend.name} backend (an exported scoring graph " \
                "returns the anomaly map and score only; the feature kind reconstructs features, not pixels)"
        kind = model_kind(self.backend.metadata.kind)
        if not kind.has_map:  # nothing to draw: say why rather than show an empty heatmap
            note = f"image-level model ({kind.name}): it scores the whole image and has no map to show or box"
        return {"verdict": verdict.value, "score": score, "threshold": s.threshold, "reason": reason,
                "boxes": [asdict(b) for b in boxes], "anomaly_map": amap.map if kind.has_map else None,
                "map_name": kind.map_name if kind.has_map else None, "reconstruction": reconstruction, "note": note}
