"""A backend without a model, for measuring the pipeline's own overhead (`edge-inspector bench --backend null`).

It does everything a real backend does around the network: the same preprocessing (ROI crop, resize to
the input size, colour conversion, normalisation) and the same map_to_frame path back to the frame's
resolution, and returns a constant map with a fixed score. Every `defect_every`-th frame instead gets a
square blob above the pixel threshold and a score above the image threshold, so that a run also pays
for the FAIL path (regions, annotation, evidence). Not selectable in a config: the bench builds it.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence

import numpy as np

from ..model.metadata import ModelMetadata
from ..model.preprocess import map_to_frame, preprocess
from ..types import AnomalyMap
from .base import Backend

THRESHOLD = 0.5  # image and pixel threshold of the built-in metadata
DEFECT_VALUE = 1.0  # map value inside the blob and score of a defect frame: above both thresholds
TIMING_SAMPLES = 100_000


class NullBackend(Backend):
    """Constant anomaly maps at frame resolution; times its preprocess and map-back steps.

    input_size: (height, width) the frames are resized to, as a model of that size would see them.
    value, score: the map value and the image score of a normal frame (below THRESHOLD: PASS).
    defect_every: every n-th frame (1-based count) is a defect frame; 0 = never.
    """

    def __init__(self, input_size: tuple[int, int] = (96, 96), value: float = 0.0, score: float = 0.0,
                 defect_every: int = 0) -> None:
        h, w = input_size
        if h < 8 or w < 8:
            raise ValueError(f"NullBackend.input_size: expected at least 8x8, got {h}x{w}")
        if defect_every < 0:
            raise ValueError(f"NullBackend.defect_every: expected >= 0, got {defect_every}")
        self.metadata = ModelMetadata(model_id=f"null-{h}x{w}", kind="scratch", input_size=(h, w),
                                      arch={"kind": "null"}, image_threshold=THRESHOLD, pixel_threshold=THRESHOLD)
        self.name = "null:cpu"
        self.value, self.score, self.defect_every = float(value), float(score), defect_every
        self.frames = 0  # frames scored (warm-up excluded)
        self.preprocess_ms: collections.deque[float] = collections.deque(maxlen=TIMING_SAMPLES)
        self.map_back_ms: collections.deque[float] = collections.deque(maxlen=TIMING_SAMPLES)
        self._normal = np.full((h, w), self.value, np.float32)
        self._defect = self._normal.copy()
        self._defect[h // 3: h // 3 + max(2, h // 8), w // 3: w // 3 + max(2, w // 8)] = DEFECT_VALUE

    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        """Preprocess the frames as a real backend would, then return constant maps at frame size."""
        t0 = time.perf_counter()
        preprocess(images, self.metadata)  # the result feeds no network: only its cost matters
        t1 = time.perf_counter()
        out = []
        for image in images:
            self.frames += 1
            defect = self.defect_every > 0 and self.frames % self.defect_every == 0
            small = self._defect if defect else self._normal
            out.append(AnomalyMap(map_to_frame(small, image.shape, self.metadata),
                                  DEFECT_VALUE if defect else self.score))
        t2 = time.perf_counter()
        self.preprocess_ms.append((t1 - t0) * 1000.0)
        self.map_back_ms.append((t2 - t1) * 1000.0)
        return out

    def warmup(self, n: int = 3) -> None:
        """Warm up, then forget the warm-up frames (so defect_every counts real frames only)."""
        super().warmup(n)
        self.frames = 0
        self.preprocess_ms.clear()
        self.map_back_ms.clear()
