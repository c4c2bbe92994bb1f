"""The label routes: a technician labels a recent reject's defect type (POST, token required, audited), and the
Rejects page reads the recent labels and the types to offer (GET). See labels.py for the dataset it writes."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask, Response, jsonify, request

from ..config import DashboardConfig
from ..service.control import DaemonControl
from .label_request import MAX_BODY, LabelError, parse_label
from .labels import LabelStore

Error = Callable[..., Response]
OFF = "labelling is off: set dashboard.labels_dir to the folder labelled rejects go to (docs/dashboard.md)"


def add_label_routes(app: Flask, control: DaemonControl, error: Error, cfg: DashboardConfig) -> None:
    """Register POST /api/rejects/<seq>/label and GET /api/labels on `app`."""
    store = None if cfg.labels_dir is None else LabelStore(cfg.labels_dir)

    @app.post("/api/rejects/<int:seq>/label")
    def label(seq: int) -> Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return error(413, f"label: body larger than {MAX_BODY} bytes ({request.content_length})")
        raw = request.stream.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return error(413, f"label: body larger than {MAX_BODY} bytes")
        if store is None:
            return error(409, OFF)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return error(400, "label: expected a JSON object {\"defect_type\": ..., \"author\": ..., \"note\": ...}")
        try:
            wanted = parse_label(data)
            kept = control.live.evidence_of(seq)
            if kept is None:
                raise LabelError(404, f"seq {seq}: not among the recent rejects")
            record, evidence = kept
            source = None if evidence is None else evidence.with_name(evidence.stem + "_raw.png")
            run = control.run_state
            saved = store.save(source, run.cfg.station_id, run.run_id, seq, str(record.get("name") or ""), wanted,
                               request.remote_addr or "?", control.sinks.audit.write_event)
        except LabelError as exc:
            if exc.status >= 500:
                app.logger.warning("label of seq %d not kept: %s", seq, exc)
            return error(exc.status, str(exc))
        return jsonify(ok=True, label={k: saved[k] for k in ("seq", "run_id", "defect_type", "author", "note",
                                                             "file", "previous")})

    @app.get("/api/labels")
    def labels() -> Response:
        run = control.run_state
        return jsonify(enabled=store is not None, off=None if store is not None else OFF, run_id=run.run_id,
                       station=run.cfg.station_id, suggested=list(cfg.defect_types),
                       seen=[] if store is None else store.types_seen(),
                       labels=[] if store is None else store.recent())
