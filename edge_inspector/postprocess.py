"""Pure functions: anomaly map -> mask -> contours -> boxes -> verdict. No I/O, no state.

The daemon calls `postprocess()` once per frame; the smaller functions are public so that
calibration, benchmarks and tests can use each step on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from .config.models import InspectionConfig, MorphologyConfig
from .model.part_mask import part_at
from .types import Box, Verdict


def _check_map(anomaly_map: object, name: str = "anomaly_map") -> np.ndarray:
    if not isinstance(anomaly_map, np.ndarray):
        raise TypeError(f"{name}: expected a 2-D float32 numpy array, got {type(anomaly_map).__name__}")
    if anomaly_map.ndim != 2 or anomaly_map.dtype != np.float32:
        raise ValueError(
            f"{name}: expected a 2-D float32 array (HxW), got shape {anomaly_map.shape} dtype {anomaly_map.dtype}"
        )
    return anomaly_map


def _check_finite(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number, got {number}")
    return number


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def threshold_mask(anomaly_map: np.ndarray, pixel_threshold: float, morphology: MorphologyConfig) -> np.ndarray:
    """Binary uint8 mask {0, 255} of pixels with anomaly >= pixel_threshold, cleaned up.

    Morphological open (kernel `morphology.open`) removes isolated specks, then close (kernel
    `morphology.close`) joins fragments of one defect; both use elliptical kernels, 0 skips the step.
    NaN pixels never enter the mask.
    """
    amap = _check_map(anomaly_map)
    thr = _check_finite(pixel_threshold, "pixel_threshold")
    mask: np.ndarray = (amap >= thr).view(np.uint8) * np.uint8(255)
    if not mask.any():  # the usual good part: opening and closing an empty mask leave it empty
        return mask
    if morphology.open > 0:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _ellipse(morphology.open))
    if morphology.close > 0:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _ellipse(morphology.close))
    return mask


def find_boxes(mask: np.ndarray, anomaly_map: np.ndarray, min_area: int, max_boxes: int,
               min_peak: float = float("-inf")) -> tuple[Box, ...]:
    """Boxes of the outer contours of `mask`, highest peak first.

    area counts the mask pixels inside the filled contour (a 1-pixel blob has area 1; holes do not
    count); peak is the largest anomaly value among those pixels. Regions with area < min_area or a peak
    below min_peak (a faint but large blob, as Cognex's region filters drop) are dropped and at most
    max_boxes are returned.
    """
    amap = _check_map(anomaly_map)
    if not isinstance(mask, np.ndarray) or mask.shape != amap.shape:
        raise ValueError(f"mask: expected shape {amap.shape} like the anomaly map, got {getattr(mask, 'shape', None)}")
    binary = (mask > 0).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes: list[Box] = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w * h < min_area:  # area <= w*h, so this region cannot pass: skip the fill
            continue
        filled = np.zeros((h, w), np.uint8)
        cv2.drawContours(filled, [contour - np.array([x, y], dtype=contour.dtype)], -1, 1, thickness=cv2.FILLED)
        inside = (filled > 0) & (binary[y : y + h, x : x + w] > 0)
        area = int(np.count_nonzero(inside))
        if area < max(min_area, 1):
            continue
        peak = float(np.max(amap[y : y + h, x : x + w][inside]))
        if peak < min_peak:
            continue
        boxes.append(Box(x=int(x), y=int(y), w=int(w), h=int(h), area=area, peak=peak))
    boxes.sort(key=lambda b: (-b.peak, -b.area, b.y, b.x))
    return tuple(boxes[: max(max_boxes, 0)])


def decide(
    score: float, boxes: Sequence[Box], threshold: float, require_region: bool, min_area: int | None = None
) -> tuple[Verdict, str]:
    """FAIL iff score >= threshold and (a region survived or regions are not required).

    Returns the verdict and a one-line reason for the technician; min_area only improves the wording.
    """
    head = f"score {score:.3f}"
    if score < threshold:
        return Verdict.PASS, f"{head} < threshold {threshold:.3f}"
    head = f"{head} >= threshold {threshold:.3f}"
    if boxes:
        largest = max(b.area for b in boxes)
        noun = "region" if len(boxes) == 1 else "regions"
        return Verdict.FAIL, f"{head}; {len(boxes)} {noun}, largest {largest} px"
    if not require_region:
        return Verdict.FAIL, f"{head}; no region located"
    size = f">= {min_area} px" if min_area is not None else "survived the area filter"
    return Verdict.PASS, f"{head} but no region {size}"


def postprocess(
    anomaly_map: np.ndarray, score: float, *, threshold: float, pixel_threshold: float, cfg: InspectionConfig,
    image_level: str | None = None,
) -> tuple[Verdict, tuple[Box, ...], str]:
    """Anomaly map and image score -> (verdict, boxes, reason) under the inspection config.

    `threshold` and `pixel_threshold` are the resolved numbers (config or the model's calibration),
    so cfg's own threshold fields are not read here. A non-finite score fails closed as FAULT.
    `image_level` names the model kind when it scores whole images only (model/kinds.py, has_map False): its
    map locates nothing, so the score alone decides, no region is required or boxed, and the reason says so.
    Raises TypeError/ValueError (expected vs actual) for a malformed map or threshold.
    """
    amap = _check_map(anomaly_map)
    thr = _check_finite(threshold, "threshold")
    pix = _check_finite(pixel_threshold, "pixel_threshold")
    try:
        value = float(score)
    except (TypeError, ValueError):
        raise TypeError(f"score: expected a number, got {score!r}") from None
    if not math.isfinite(value):
        return Verdict.FAULT, (), f"scorer returned a non-finite score ({value})"
    if image_level is not None:
        verdict, reason = decide(value, (), thr, require_region=False)
        return verdict, (), reason.replace("; no region located", "") + f"; image-level model ({image_level}): " \
            "no map to locate the defect"
    boxes = regions(amap, pix, cfg)
    verdict, reason = decide(value, boxes, thr, cfg.require_region, cfg.min_defect_area)
    return verdict, boxes, reason


def regions(anomaly_map: np.ndarray, pixel_threshold: float, cfg: InspectionConfig) -> tuple[Box, ...]:
    """find_boxes(threshold_mask(map)) with the same result, at a fraction of the cost on a camera-sized map.

    A map whose maximum is below the threshold has no region (the usual good part: one pass, no mask).
    Otherwise only the bounding rectangle of the pixels at or above the threshold is cleaned up and
    searched, padded so that the morphology sees exactly the zeros it would see in the whole map.
    """
    amap = _check_map(anomaly_map)
    pix = _check_finite(pixel_threshold, "pixel_threshold")
    if float(amap.max()) < pix:  # NaN compares False and takes the full path, which never masks it
        return ()
    x, y, w, h = cv2.boundingRect((amap >= pix).view(np.uint8))
    if w == 0 or h == 0:
        return ()
    m = cfg.morphology
    # Erode/dilate reach k//2 pixels; open then close chains three of them, plus one for findContours' frame.
    pad = max(m.open, 0) + 2 * max(m.close, 0) + 2
    H, W = amap.shape
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
    crop = amap[y0:y1, x0:x1]
    found = find_boxes(threshold_mask(crop, pix, m), crop, cfg.min_defect_area, cfg.max_boxes, cfg.min_region_peak)
    return tuple(replace(b, x=b.x + x0, y=b.y + y0) for b in found)


def inspection_mask(shape: tuple[int, int], roi: list[int] | None, ignore: np.ndarray | None) -> np.ndarray | None:
    """Bool mask of inspected pixels (inside the ROI, where the ignore image is 0), or None when everything is
    inspected. `calibrate` and the daemon both use it, so a profile judges live frames as it judged its images."""
    if roi is None and ignore is None:
        return None
    keep = np.zeros(shape, bool) if roi is not None else np.ones(shape, bool)
    if roi is not None:
        x, y, w, h = roi
        keep[y:y + h, x:x + w] = True
    if ignore is not None:
        keep &= part_at(ignore, shape)
    return keep
