"""The dashboard's POST routes: a command (as on the MQTT topic) and an uploaded image to judge.

An upload's pixel size is read from its header before anything is decoded (a decompression bomb is refused
with 413), one upload is handled at a time (another gets 429), and a large image is scaled down on the
HTTP thread to a line frame's size, so judging it between two frames costs the line one part's time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from ..service.commands import CommandError, parse_request
from ..service.control import DaemonControl
from .image_header import TooLarge
from .inspect_images import decode_upload, fit_pixels, inspect_result

Error = Callable[..., Response]
MAX_NAME = 120  # characters of an upload's file name kept for answers


def status_of(answer: dict[str, Any]) -> int:
    """The HTTP status of a command answer."""
    if answer.get("ok"):
        return 200
    text = str(answer.get("error") or "")
    return 429 if text.startswith("busy") else 504 if text.startswith("expired") else 409


def add_writes(app: Flask, control: DaemonControl, error: Error, max_megapixels: float) -> None:
    """Register the POST routes on `app`."""
    uploading = threading.Lock()

    @app.post("/api/command")
    def command() -> Response:
        data = request.get_json(silent=True)
        try:
            parse_request(data)
        except CommandError as exc:
            return error(400, str(exc))
        answer = control.command(data)
        if answer is None:
            return error(504, "the daemon did not answer in time")
        response = jsonify(answer)
        response.status_code = status_of(answer)
        return response

    @app.post("/api/inspect")
    def inspect() -> Response:
        upload = request.files.get("image")
        if upload is None:
            return error(400, "image: expected a multipart form field 'image' holding a PNG or JPEG file")
        name = Path(upload.filename or "upload").name[:MAX_NAME] or "upload"
        if not uploading.acquire(blocking=False):
            return error(429, "busy: another upload is being judged; try again", {"Retry-After": "1"})
        try:
            try:
                image = decode_upload(upload.read(), name, max_megapixels)
            except TooLarge as exc:
                app.logger.warning("upload refused: %s", exc)
                return error(413, str(exc))
            except ValueError as exc:
                return error(415, str(exc))
            judged_image = fit_pixels(image, control.upload_pixels())
            judged = control.inspect_image(judged_image)  # Busy/Expired: answered by the app's error handler
            return jsonify(inspect_result(judged_image, judged, name))
        finally:
            uploading.release()
