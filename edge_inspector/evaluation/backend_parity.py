"""Backend parity: the same images through several (backend, model dir) pairs, compared with the first.

Scores, anomaly maps (at the model's input size) and full verdicts (postprocess with each model's own
thresholds) are compared; the result says how far the candidates drift and which parts change verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..backends import Backend
from ..config import InspectionConfig
from ..postprocess import postprocess


@dataclass
class ParityResult:
    """How one candidate compares with the reference over the same images."""

    name: str
    images: int
    max_score_abs_diff: float
    max_score_rel_diff: float
    max_map_abs_diff: float
    verdict_flips: list[str] = field(default_factory=list)  # "image: REF -> CANDIDATE"

    def line(self) -> str:
        """One readable line for the summary."""
        flips = f"{len(self.verdict_flips)} verdict flips" + (f" ({'; '.join(self.verdict_flips[:5])})"
                                                               if self.verdict_flips else "")
        return (f"{self.name}: score diff max {self.max_score_abs_diff:.2e} ({self.max_score_rel_diff:.2e} relative), "
                f"map diff max {self.max_map_abs_diff:.2e}, {flips} over {self.images} images")


def _verdicts(backend: Backend, images: Sequence[np.ndarray], cfg: InspectionConfig,
              tick: Callable[[], None]) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    meta = backend.metadata
    h, w = meta.input_size
    scores, maps, verdicts = [], [], []
    for image in images:
        out = backend.infer([image])[0]
        verdict, _, _ = postprocess(out.map, out.score, threshold=meta.image_threshold,
                                    pixel_threshold=meta.pixel_threshold, cfg=cfg)
        scores.append(out.score)
        maps.append(cv2.resize(out.map, (w, h), interpolation=cv2.INTER_AREA))
        verdicts.append(verdict.value)
        tick()
    return np.asarray(scores, np.float64), maps, verdicts


def compare_backends(backends: Sequence[Backend], images: Sequence[np.ndarray], names: Sequence[str],
                     cfg: InspectionConfig | None = None,
                     tick: Callable[[], None] = lambda: None) -> list[ParityResult]:
    """Compare backends[1:] with backends[0] on `images` (named by `names`, e.g. file paths)."""
    cfg = cfg or InspectionConfig()
    ref_scores, ref_maps, ref_verdicts = _verdicts(backends[0], images, cfg, tick)
    results = []
    for backend in backends[1:]:
        scores, maps, verdicts = _verdicts(backend, images, cfg, tick)
        diff = np.abs(scores - ref_scores)
        flips = [f"{Path(n).parent.name}/{Path(n).name}: {a} -> {b}"
                 for n, a, b in zip(names, ref_verdicts, verdicts) if a != b]
        results.append(ParityResult(
            name=backend.name, images=len(images), max_score_abs_diff=float(diff.max()),
            max_score_rel_diff=float((diff / np.maximum(np.abs(ref_scores), 1e-6)).max()),
            max_map_abs_diff=max(float(np.abs(a - b).max()) for a, b in zip(maps, ref_maps)),
            verdict_flips=flips))
    return results
