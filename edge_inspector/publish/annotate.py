"""Draw an Inspection onto its frame: heatmap overlay, region boxes and a verdict header bar."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..types import Inspection, Verdict

# BGR colours
VERDICT_COLOURS = {Verdict.PASS: (40, 170, 40), Verdict.FAIL: (0, 0, 230), Verdict.FAULT: (0, 140, 255)}
BOX_FAIL = (0, 0, 255)
BOX_OTHER = (0, 215, 255)  # regions on a PASS (score below threshold): yellow, informative only
HEATMAP_ALPHA = 0.35


def heatmap(anomaly_map: np.ndarray, threshold: float, size: tuple[int, int]) -> np.ndarray:
    """The map as a JET colour image (BGR) of `size` (w, h), scaled so the threshold sits mid-way."""
    amap: np.ndarray = anomaly_map.astype(np.float32, copy=False)
    lo, hi = float(amap.min()), float(amap.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN propagates into min/max
        amap = np.nan_to_num(amap, nan=0.0, posinf=0.0, neginf=0.0)
        hi = float(amap.max())
    if amap.shape != (size[1], size[0]):
        amap = cv2.resize(amap, size, interpolation=cv2.INTER_LINEAR)
        hi = float(amap.max())
    # Scale so the threshold sits mid-way in the colour map; fall back to the map's own maximum.
    top = 2.0 * threshold if math.isfinite(threshold) and threshold > 0 else hi
    top = top if top > 0 else 1.0
    # In place on one buffer: a camera-sized map is megabytes, and this runs once per annotated frame.
    scaled = np.divide(amap, np.float32(top), dtype=np.float32)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= np.float32(255.0)
    return cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_JET)


def annotate(image: np.ndarray, inspection: Inspection, anomaly_map: np.ndarray | None = None) -> np.ndarray:
    """A copy of the BGR frame with heatmap (when a map is given), boxes and a header bar.

    The output has the input's shape and dtype (uint8 HxWx3); fonts scale with the frame so that
    a 256 px frame stays legible.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
        raise ValueError(f"image: expected HxWx3 uint8, got shape {shape} dtype {dtype}")
    h, w = image.shape[:2]
    if anomaly_map is not None and anomaly_map.ndim == 2:
        heat = heatmap(anomaly_map, inspection.threshold, (w, h))
        out = cv2.addWeighted(heat, HEATMAP_ALPHA, image, 1.0 - HEATMAP_ALPHA, 0.0)  # a new array
    else:
        out = image.copy()

    side = min(h, w)
    thick = max(1, round(side / 200))
    box_colour = BOX_FAIL if inspection.verdict is Verdict.FAIL else BOX_OTHER
    for box in inspection.boxes:
        cv2.rectangle(out, (box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1), box_colour, thick)

    _header(out, inspection, side)
    return out


def _header(out: np.ndarray, inspection: Inspection, side: int) -> None:
    w = out.shape[1]
    scale = max(0.3, side / 700.0)
    font = cv2.FONT_HERSHEY_SIMPLEX
    text_thick = 1 if scale < 0.6 else 2
    score = f"{inspection.score:.3f}" if inspection.score is not None else "-"
    verdict = Verdict(inspection.verdict)
    label = verdict.value
    detail = f"score {score} thr {inspection.threshold:.3f}  #{inspection.seq}"
    (lw, lh), base = cv2.getTextSize(label, font, scale, text_thick)
    bar = lh + base + max(4, round(side / 64))
    pad = max(2, round(side / 100))
    # darken the band under the text so it reads on any part
    out[:bar] = (out[:bar].astype(np.uint16) * 2 // 5).astype(np.uint8)
    cv2.rectangle(out, (0, 0), (lw + 2 * pad, bar - 1), VERDICT_COLOURS[verdict], cv2.FILLED)
    baseline_y = bar - base - max(1, pad // 2)
    cv2.putText(out, label, (pad, baseline_y), font, scale, (255, 255, 255), text_thick, cv2.LINE_AA)
    x = lw + 3 * pad
    detail_scale = scale
    (dw, _), _ = cv2.getTextSize(detail, font, detail_scale, text_thick)
    if x + dw > w - pad:  # shrink the details rather than clip them on narrow frames
        detail_scale = scale * max(0.5, (w - pad - x) / max(dw, 1))
    cv2.putText(out, detail, (x, baseline_y), font, detail_scale, (255, 255, 255), 1, cv2.LINE_AA)
