"""The dashboard's read routes: state, live frame, rejects, what-if, history and the CSV export.

Each runs on the HTTP thread that received it, never on the inspection thread: state and rejects are
copies of small records, the frame is encoded once per new part, what-if replays kept maps, history is
read through a cache a page at a time. Query parameters are checked and bounded before use.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_file

from ..calibration.history_cache import MAX_LIMIT
from ..service.commands import CommandError
from ..service.control import DaemonControl
from .csv_export import parse_time, verdicts_csv

WHAT_IF_KEYS = {"image_threshold": float, "pixel_threshold": float, "min_area": int, "min_peak": float}
MAX_NUMBER_TEXT = 40  # characters in one numeric query parameter
Error = Callable[..., Response]


def int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    """The integer query parameter `name` within low..high; ValueError naming it (value capped) otherwise."""
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and low <= int(text) <= high):
        raise ValueError(f"{name}: expected an integer {low}..{high}, got {text[:40]!r}")
    return int(text)


def add_reads(app: Flask, control: DaemonControl, error: Error) -> None:
    """Register the GET routes on `app`."""

    @app.get("/api/state")
    def state() -> Response:
        return jsonify(control.state())

    @app.get("/api/frame.jpg")
    def frame() -> Response:
        latest = control.live.frame_jpeg()
        if latest is None:
            return error(503, "no frame inspected yet")
        response = Response(latest[1], mimetype="image/jpeg")
        response.headers["X-Seq"] = str(latest[0])
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/api/rejects")
    def rejects() -> Response:
        try:
            limit = int_arg("limit", 50, 1, 200)
        except ValueError as exc:
            return error(400, str(exc))
        assert limit is not None
        return jsonify(rejects=control.live.rejects(limit))

    @app.get("/api/rejects/<int:seq>/<kind>.png")
    def reject_image(seq: int, kind: str) -> Response:
        if kind not in ("annotated", "raw"):
            return error(404, f"{kind[:40]}: expected annotated or raw")
        kept = control.live.evidence_of(seq)
        if kept is None:
            return error(404, f"seq {seq}: not among the recent rejects")
        path = kept[1]
        if path is not None and kind == "raw":
            path = path.with_name(path.stem + "_raw.png")
        if path is None or not path.is_file():
            return error(404, f"seq {seq}: no {kind} evidence image was written (FAULT without a frame, low disk, "
                              "a busy image worker, or raw for a FAIL only)")
        return send_file(path, mimetype="image/png", max_age=3600)

    @app.get("/api/what-if")
    def what_if() -> Response:
        changes: dict[str, Any] = {}
        for key, value in request.args.items():
            if key not in WHAT_IF_KEYS:
                return error(400, f"{key[:40]}: unknown parameter (known: {', '.join(WHAT_IF_KEYS)})")
            try:
                if len(value) > MAX_NUMBER_TEXT:
                    raise ValueError
                number = WHAT_IF_KEYS[key](value)
            except ValueError:
                return error(400, f"{key}: expected a number, got {value[:40]!r}")
            if not math.isfinite(number):
                return error(400, f"{key}: expected a finite number, got {value[:40]!r}")
            changes[key] = number
        if not changes:
            return error(400, f"what-if: give at least one of {', '.join(WHAT_IF_KEYS)}")
        try:
            return jsonify(control.what_if(changes))
        except CommandError as exc:
            busy = str(exc).startswith("busy")
            return error(429 if busy else 400, str(exc), {"Retry-After": "1"} if busy else None)

    @app.get("/api/history")
    def history() -> Response:
        try:
            limit = int_arg("limit", MAX_LIMIT, 1, MAX_LIMIT)
            offset = int_arg("offset", 0, 0, 10**9)
            before = int_arg("before", None, 1, 10**9)
            assert limit is not None and offset is not None
            return jsonify(control.history(limit=limit, offset=offset, before=before))
        except CommandError as exc:
            return error(409, str(exc))
        except (ValueError, OSError) as exc:
            return error(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    @app.get("/api/verdicts.csv")
    def verdicts() -> Response:
        try:
            start = parse_time(_capped("from"), "from")
            end = parse_time(_capped("to"), "to")
        except ValueError as exc:
            return error(400, str(exc))
        out = control.run_state.cfg.output
        roots = [Path(p) for p in (out.dir, out.evidence_dir) if p is not None]
        name = f"verdicts-{control.run_state.cfg.station_id}-{secrets.token_hex(2)}.csv"
        return Response(verdicts_csv(control.audit_log, start, end, roots), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _capped(name: str) -> str | None:
    text = request.args.get(name)
    if text is not None and len(text) > 64:
        raise ValueError(f"{name}: expected an ISO 8601 time, got {len(text)} characters")
    return text
