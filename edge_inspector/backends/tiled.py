"""Tiled native-resolution scoring around any backend (model.tiling; geometry in model/tiling.py).

Each frame is cropped to the model's ROI, resized (aspect kept) to the working size, cut into overlapping
tiles of the model's input size, scored as one batch through the inner backend, and the tile maps are
stitched with blending weights; the frame's score is the max (or top-k mean) of the stitched map. The inner
backend sees tiles only, so every backend (torch, ONNX Runtime, TensorRT) tiles the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..model import tiling
from ..model.preprocess import crop_roi, map_to_frame
from ..types import AnomalyMap
from .base import Backend, BackendError


class TiledBackend(Backend):
    """Wraps `inner`; its metadata (thresholds included) is the inner model's: calibrate with tiling on."""

    def __init__(self, inner: Backend, spec: tiling.TileSpec) -> None:
        h, w = inner.metadata.input_size
        if h != w or spec.tile not in (0, h):
            raise BackendError(f"model.tiling: needs a square model input equal to the tile, got {h}x{w} "
                               f"for tile {spec.tile}")
        try:
            spec = dataclasses.replace(spec, tile=h)
        except ValueError as exc:
            raise BackendError(f"model.tiling: {exc}") from None
        self.inner, self.spec = inner, spec
        self.metadata = inner.metadata
        # the ROI applies to the whole frame, before tiling; the inner backend must not crop each tile
        inner.metadata = dataclasses.replace(inner.metadata, roi=None)
        self._weights = tiling.window(spec.tile, spec.overlap)
        self.name = f"{inner.name}+tiles{spec.tile}/{spec.overlap}@{spec.working_size or 'native'}:{spec.score}"

    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        """Score BGR frames of any size tile by tile; maps come back at each frame's resolution."""
        return [self._one(image) for image in images]

    def _one(self, image: np.ndarray) -> AnomalyMap:
        spec = self.spec
        padded, (h, w) = tiling.to_working(crop_roi(image, self.metadata.roi), spec.working_size, spec.tile)
        tiles = tiling.grid(padded.shape[0], padded.shape[1], spec.tile, spec.overlap)
        maps = self.inner.infer(tiling.cut(padded, tiles, spec.tile))
        stitched = tiling.stitch([m.map for m in maps], tiles, padded.shape[0], padded.shape[1],
                                 self._weights)[:h, :w]
        score = tiling.frame_score(stitched, spec)
        return AnomalyMap(map_to_frame(np.ascontiguousarray(stitched), image.shape, self.metadata), score)

    def warmup(self, n: int = 3) -> None:
        """Warm the inner backend at every batch size the tiles reach it in (1 and its max_batch: a frame of
        many tiles arrives in max_batch chunks, so a CUDA graph for it must exist before the first part),
        then one frame through the tiling path itself."""
        self.inner.warmup(n)
        h, w = self.metadata.input_size
        self.infer([np.full((h, w, 3), 127, np.uint8)])

    def tiles_per_frame(self, height: int, width: int) -> int:
        """How many tiles one height x width frame costs (for reports)."""
        spec = self.spec
        h, w = tiling.working_shape(height, width, spec.working_size)
        return len(tiling.grid(max(h, spec.tile), max(w, spec.tile), spec.tile, spec.overlap))

    def close(self) -> None:
        self.inner.close()
