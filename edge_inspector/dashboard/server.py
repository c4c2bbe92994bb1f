"""The dashboard's Flask app: four plain pages and the JSON API of docs/dashboard.md.

Everything goes through the daemon's DaemonControl; settings change only through its command processor,
the same way as the MQTT command topic. Reading needs nothing (the dashboard binds to localhost unless
configured); every POST needs the bearer token. Every error is JSON {"error": one line} with a 4xx status,
and no request can stop the daemon.
"""

from __future__ import annotations

import hmac
import math
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_file, send_from_directory
from werkzeug.exceptions import HTTPException

from ..service.between_frames import Busy, Expired
from ..service.commands import CommandError, parse_request
from ..service.control import DaemonControl
from .csv_export import parse_time, verdicts_csv
from .inspect_images import decode_upload, inspect_result

STATIC = Path(__file__).with_name("static")
PAGES = {"/": "index.html", "/rejects": "rejects.html", "/threshold": "threshold.html", "/inspect": "inspect.html"}
WHAT_IF_KEYS = {"image_threshold": float, "pixel_threshold": float, "min_area": int, "min_peak": float}


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _command_status(answer: dict[str, Any]) -> int:
    if answer.get("ok"):
        return 200
    error = str(answer.get("error") or "")
    return 429 if error.startswith("busy") else 504 if error.startswith("expired") else 409


def create_app(control: DaemonControl, token: str, *, max_upload_bytes: int) -> Flask:
    """The WSGI app for one running daemon."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    expected = f"Bearer {token}".encode()

    def authorised() -> bool:
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected)

    @app.before_request
    def check_token() -> Response | None:
        if request.method == "POST" and not authorised():
            return _error(401, "Authorization: expected 'Bearer <token>' with the dashboard token "
                               "(dashboard.token_file on the line device)")
        return None

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return _error(413, f"upload: larger than dashboard.max_upload_mb ({max_upload_bytes / 2**20:g} MB)")
        return _error(exc.code or 500, f"{request.method} {request.path}: {exc.name}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("dashboard request %s %s failed", request.method, request.path)
        return _error(500, f"{request.method} {request.path}: internal error ({type(exc).__name__}); see the log")

    for route, page in PAGES.items():
        app.add_url_rule(route, page, lambda page=page: send_from_directory(STATIC, page))

    @app.get("/api/state")
    def state() -> Response:
        return jsonify(control.state())

    @app.get("/api/frame.jpg")
    def frame() -> Response:
        latest = control.live.frame_jpeg()
        if latest is None:
            return _error(503, "no frame inspected yet")
        response = Response(latest[1], mimetype="image/jpeg")
        response.headers["X-Seq"] = str(latest[0])
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/api/rejects")
    def rejects() -> Response:
        limit = request.args.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            return _error(400, f"limit: expected an integer 1..200, got {limit!r}")
        return jsonify(rejects=control.live.rejects(int(limit)))

    @app.get("/api/rejects/<int:seq>/<kind>.png")
    def reject_image(seq: int, kind: str) -> Response:
        if kind not in ("annotated", "raw"):
            return _error(404, f"{kind}: expected annotated or raw")
        kept = control.live.evidence_of(seq)
        if kept is None:
            return _error(404, f"seq {seq}: not among the recent rejects")
        path = kept[1]
        if path is not None and kind == "raw":
            path = path.with_name(path.stem + "_raw.png")
        if path is None or not path.is_file():
            return _error(404, f"seq {seq}: no {kind} evidence image was written (FAULT without a frame, low disk, "
                               "a busy image worker, or raw for a FAIL only)")
        return send_file(path, mimetype="image/png", max_age=3600)

    @app.get("/api/what-if")
    def what_if() -> Response:
        changes: dict[str, Any] = {}
        for key, value in request.args.items():
            if key not in WHAT_IF_KEYS:
                return _error(400, f"{key}: unknown parameter (known: {', '.join(WHAT_IF_KEYS)})")
            try:
                number = WHAT_IF_KEYS[key](value)
            except ValueError:
                return _error(400, f"{key}: expected a number, got {value!r}")
            if not math.isfinite(number):
                return _error(400, f"{key}: expected a finite number, got {value!r}")
            changes[key] = number
        if not changes:
            return _error(400, f"what-if: give at least one of {', '.join(WHAT_IF_KEYS)}")
        try:
            return jsonify(control.what_if(changes))
        except CommandError as exc:
            return _error(429 if str(exc).startswith("busy") else 400, str(exc))

    @app.get("/api/history")
    def history() -> Response:
        answer = control.history()
        if not answer.get("ok"):
            return _error(_command_status(answer) if answer else 504, str(answer.get("error") or "no answer"))
        profile = answer.get("profile") or {}
        return jsonify(revision=profile.get("revision"), history=answer.get("history", []))

    @app.post("/api/command")
    def command() -> Response:
        data = request.get_json(silent=True)
        try:
            parse_request(data)
        except CommandError as exc:
            return _error(400, str(exc))
        answer = control.command(data)
        if answer is None:
            return _error(504, "the daemon did not answer in time")
        response = jsonify(answer)
        response.status_code = _command_status(answer)
        return response

    @app.post("/api/inspect")
    def inspect() -> Response:
        upload = request.files.get("image")
        if upload is None:
            return _error(400, "image: expected a multipart form field 'image' holding a PNG or JPEG file")
        name = Path(upload.filename or "upload").name
        try:
            image = decode_upload(upload.read(), name)
        except ValueError as exc:
            return _error(415, str(exc))
        try:
            judged = control.inspect_image(image)
        except Busy as exc:
            return _error(429, str(exc))
        except Expired as exc:
            return _error(504, str(exc))
        return jsonify(inspect_result(image, judged, name))

    @app.get("/api/verdicts.csv")
    def verdicts() -> Response:
        try:
            start = parse_time(request.args.get("from"), "from")
            end = parse_time(request.args.get("to"), "to")
        except ValueError as exc:
            return _error(400, str(exc))
        name = f"verdicts-{control.daemon.cfg.station_id}-{secrets.token_hex(2)}.csv"
        return Response(verdicts_csv(control.audit_log, start, end), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app
