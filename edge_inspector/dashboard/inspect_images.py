"""The inspect page's pictures: original, heatmap overlay and annotated frame as JPEG data URLs."""

from __future__ import annotations

import base64
import time
from typing import Any

import cv2
import numpy as np

from ..annotate import HEATMAP_ALPHA, annotate, heatmap
from ..types import Box, Inspection, Verdict

MAX_WIDTH = 1280  # pictures sent back are scaled down to this width at most


def _data_url(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    if w > MAX_WIDTH:
        image = cv2.resize(image, (MAX_WIDTH, round(h * MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def decode_upload(data: bytes, name: str) -> np.ndarray:
    """A PNG or JPEG upload as a BGR uint8 frame; ValueError (one line, naming the file) otherwise."""
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise ValueError(f"{name}: not a PNG or JPEG image")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ValueError(f"{name}: the image could not be decoded (damaged or truncated)")
    return image


def inspect_result(image: np.ndarray, judged: dict[str, Any], name: str) -> dict[str, Any]:
    """The JSON answer of POST /api/inspect (docs/dashboard.md) for a judged upload."""
    amap, recon = judged.pop("anomaly_map"), judged.pop("reconstruction")
    h, w = image.shape[:2]
    now = time.time()
    insp = Inspection(seq=0, source_index=0, name=name, captured_at=now, decided_at=now,
                      verdict=Verdict(judged["verdict"]), score=judged["score"], threshold=judged["threshold"],
                      boxes=tuple(Box(**b) for b in judged["boxes"]), reason=judged["reason"])
    images: dict[str, str | None] = {"original": _data_url(image), "heatmap": None, "annotated": None,
                                     "reconstruction": None}
    if amap is not None:
        heat = heatmap(amap, judged["threshold"], (w, h))
        images["heatmap"] = _data_url(cv2.addWeighted(heat, HEATMAP_ALPHA, image, 1.0 - HEATMAP_ALPHA, 0.0))
        images["annotated"] = _data_url(annotate(image, insp, amap))
    if recon is not None:
        images["reconstruction"] = _data_url(recon)
    return {**judged, "width": w, "height": h, "images": images}
