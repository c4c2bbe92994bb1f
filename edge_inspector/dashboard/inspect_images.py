"""The inspect page's pictures: original, heatmap overlay and annotated frame as JPEG data URLs."""

from __future__ import annotations

import base64
import math
import time
from typing import Any

import cv2
import numpy as np

from ..publish.annotate import HEATMAP_ALPHA, annotate, heatmap
from ..types import Box, Inspection, Verdict
from .image_header import check_pixels

MAX_WIDTH = 1280  # pictures sent back are scaled down to this width at most


def _data_url(image: np.ndarray) -> str:
    h, w = image.shape[:2]
    if w > MAX_WIDTH:
        image = cv2.resize(image, (MAX_WIDTH, round(h * MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def decode_upload(data: bytes, name: str, max_megapixels: float = 40.0) -> np.ndarray:
    """A PNG or JPEG upload as a BGR uint8 frame; ValueError (one line, naming the file) otherwise.

    The size in the header is checked first (image_header.TooLarge above `max_megapixels`): nothing is
    decoded for a decompression bomb.
    """
    width, height = check_pixels(data, name, max_megapixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ValueError(f"{name}: the image could not be decoded (damaged or truncated)")
    if image.shape[:2] != (height, width):  # the decoder read another size than the header said
        raise ValueError(f"{name}: decoded {image.shape[1]}x{image.shape[0]}, the header says {width}x{height}")
    return image


def fit_pixels(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """`image` scaled down (aspect kept) to at most `max_pixels` pixels, so judging it costs one line frame."""
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (h * w))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


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
