"""Does a reduced precision (fp16, bf16, int8) keep fp32's verdicts? The one decision `build-engine` and the
torch-CUDA path take before a reduced-precision scorer may judge parts.

Both score the same check frames in fp32 and in the reduced precision and compare, like `export` does for
int8 (export/export_api.py). The reduced precision is refused when any of these holds on any frame:
  * the PASS/FAIL side of the calibrated image threshold differs (score >= threshold is a FAIL, as in
    postprocess.decide);
  * on a frame whose score is at or above the image threshold (in either precision), the map reaches the
    pixel threshold in one precision only: the FAIL's region appears or vanishes (with require_region a
    verdict flip; below the image threshold a region changes nothing, and a map peak sitting on the pixel
    threshold would otherwise refuse any precision);
  * a score moves by more than its allowance: `tolerance` x |image threshold|, or half of a FAIL's margin
    above the threshold when that is larger (a clear FAIL may move more and stay a clear FAIL);
  * a score or map value is not finite.
Torch-free: the inputs are two backends (or their arrays), so ONNX Runtime + TensorRT machines use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model.metadata import ModelMetadata
from .base import Backend

# A reduced-precision score may move by this fraction of |image threshold| (the int8 export's rule).
PRECISION_TOLERANCE = 0.03


@dataclass(frozen=True)
class PrecisionParity:
    """The comparison of one reduced precision against fp32 on `frames` check frames."""

    precision: str
    frames: int
    threshold: float
    allowed: float  # the tolerance in score units
    decision_flips: int  # frames whose PASS/FAIL side of the image threshold differs
    region_flips: int  # FAIL-side frames whose map reaches the pixel threshold in one precision only
    non_finite: int  # frames with a non-finite score or map value in the reduced precision
    max_score_abs_diff: float
    worst_budget_use: float  # the largest score change / its allowance (over 1 refuses)
    max_map_abs_diff: float

    @property
    def ok(self) -> bool:
        """True when the reduced precision may judge parts."""
        return (self.decision_flips == 0 and self.region_flips == 0 and self.non_finite == 0
                and self.worst_budget_use <= 1.0)

    def summary(self) -> str:
        """One line: the verdict and the numbers behind it."""
        head = f"{self.precision} {'keeps' if self.ok else 'does not keep'} fp32's verdicts on {self.frames} frames"
        return (f"{head}: {self.decision_flips} verdict flips at threshold {self.threshold:.4g}, "
                f"{self.region_flips} region flips, {self.non_finite} non-finite, largest score change "
                f"{self.max_score_abs_diff:.4g} ({self.worst_budget_use:.2f}x its allowance, tolerance "
                f"{self.allowed:.4g}), largest map change {self.max_map_abs_diff:.4g}")

    def as_dict(self) -> dict[str, object]:
        """For engine.json / metadata: every field plus ok."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "ok": self.ok}


def judge_precision(reference_maps: Sequence[np.ndarray], reference_scores: Sequence[float],
                    maps: Sequence[np.ndarray], scores: Sequence[float], *, image_threshold: float,
                    pixel_threshold: float, precision: str,
                    tolerance: float = PRECISION_TOLERANCE) -> PrecisionParity:
    """Compare reduced-precision maps and scores with fp32's for the same frames (see the module doc)."""
    if not (len(reference_maps) == len(reference_scores) == len(maps) == len(scores)) or not scores:
        raise ValueError(f"precision parity: expected equal, non-zero counts, got {len(reference_maps)} and "
                         f"{len(reference_scores)} fp32 maps/scores, {len(maps)} and {len(scores)} {precision}")
    if not (tolerance >= 0 and np.isfinite(tolerance)):
        raise ValueError(f"precision parity: tolerance must be a number >= 0, got {tolerance!r}")
    ref = np.asarray(reference_scores, np.float64)
    got = np.asarray(scores, np.float64)
    thr, pix = float(image_threshold), float(pixel_threshold)
    finite = np.isfinite(got) & np.asarray([bool(np.isfinite(m).all()) for m in maps])
    flips = int(np.sum((ref >= thr) != (got >= thr)))
    fail_side = (ref >= thr) | (got >= thr)
    regions = int(sum(bool((a >= pix).any()) != bool((b >= pix).any())
                      for a, b, judged in zip(reference_maps, maps, fail_side) if judged))
    allowed = tolerance * max(abs(thr), 1e-6)
    diff = np.where(finite, np.abs(ref - got), np.inf)
    budget = np.maximum(np.maximum(allowed, 0.5 * (ref - thr)), 1e-12)
    map_diff = max(float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0
                   for a, b in zip(reference_maps, maps))
    return PrecisionParity(precision=precision, frames=len(scores), threshold=thr, allowed=allowed,
                           decision_flips=flips, region_flips=regions, non_finite=int(np.sum(~finite)),
                           max_score_abs_diff=float(diff.max()), worst_budget_use=float((diff / budget).max()),
                           max_map_abs_diff=map_diff)


def compare_precision(reference: Backend, reduced: Backend, frames: Sequence[np.ndarray], precision: str,
                      tolerance: float = PRECISION_TOLERANCE) -> PrecisionParity:
    """Score `frames` with an fp32 backend and a reduced-precision one (one frame per call, as the line
    scores) and judge them at the reduced backend's thresholds."""
    ref = [reference.infer([f])[0] for f in frames]
    got = [reduced.infer([f])[0] for f in frames]
    meta = reduced.metadata
    return judge_precision([r.map for r in ref], [r.score for r in ref], [g.map for g in got],
                           [g.score for g in got], image_threshold=meta.image_threshold,
                           pixel_threshold=meta.pixel_threshold, precision=precision, tolerance=tolerance)


def check_frames(meta: ModelMetadata, images: Sequence[np.ndarray] = (), seed: int = 0) -> list[np.ndarray]:
    """The frames a precision is checked on: `images` (good parts, e.g. calibration images) plus flat frames
    at several grey levels and a smooth ramp (flat, well-reconstructed regions are where reduced-precision
    statistics cancel), one noise frame and synthetic parts with and without defects. Generated frames are
    the model's input size, or large enough to hold its ROI."""
    from ..synth import CATEGORIES, DEFECT_TYPES, render_sample

    h, w = meta.input_size
    if meta.roi is not None:
        x, y, rw, rh = meta.roi
        h, w = max(h, y + rh), max(w, x + rw)
    rng = np.random.default_rng(seed)
    frames = [np.asarray(i) for i in images]
    frames += [np.full((h, w, 3), level, np.uint8) for level in (40, 128, 220)]
    ramp = np.linspace(30, 225, w, dtype=np.float32)[None, :, None]
    frames.append(np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8))
    frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    for i, category in enumerate(CATEGORIES[:3]):
        defect = DEFECT_TYPES[i % len(DEFECT_TYPES)] if i % 2 else None
        frames.append(render_sample(category, rng, size=max(h, w), defect_type=defect).image[:h, :w])
    return [np.ascontiguousarray(f) for f in frames]
