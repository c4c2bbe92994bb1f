"""Validation scores of a tiled model (`train --tiles`) as the line computes them.

A tiled model is judged on the blended, stitched full-frame map: the daemon, `evaluate` and `calibrate` run
backends.tiled.TiledBackend around the saved model. The model's threshold must come from that score, not from
its validation tiles one by one (the highest tile's own score is not the stitched map's maximum: blending
averages a tile's edge with its neighbours, and the frame is resized to the working size first), so training
scores its validation images through the very same backend, then over the inspected pixels (the part mask) as
the daemon does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..backends import BackendOptions, create_backend
from ..model.part_mask import part_scores
from ..model.tiling import TileSpec
from ..postprocess import inspection_mask
from .data import read_bgr


def score_stitched(model_dir: Path, files: Sequence[Path], spec: TileSpec, device: str,
                   ignore: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(scores [N], stitched maps at each frame's size) of whole good images through the saved model in
    `model_dir`, tiled by `spec` in fp32; with `ignore` (nonzero = not the part) the score is the map's max over
    the part and the map is 0 elsewhere, the daemon's InspectionMask."""
    backend = create_backend("torch", model_dir, device, BackendOptions(precision="fp32", tiling=spec))
    scores: list[float] = []
    maps: list[np.ndarray] = []
    try:
        for path in files:
            out = backend.infer([read_bgr(path)])[0]
            amap, score = out.map, float(out.score)
            keep = inspection_mask(amap.shape[:2], None, ignore)
            if keep is not None:
                score = float(part_scores(amap[None], keep[None])[0])
                amap = np.where(keep, amap, np.float32(0)).astype(np.float32)
            scores.append(score)
            maps.append(amap)
    finally:
        backend.close()
    return np.asarray(scores, np.float64), maps
