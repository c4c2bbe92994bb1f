"""Native-resolution scoring geometry: an aspect-preserving working size, overlapping tiles that cover a
frame edge to edge, and stitching of the tiles' maps with blending weights. Pure numpy/OpenCV.

A 0.5 mm crack on a 2448x2048 frame squashed to 256x256 is sub-pixel; cut into model-sized tiles at a
working resolution it keeps its pixels. Tiles overlap so that a defect on a tile border is seen whole by a
neighbour; in the overlap the maps are blended with weights that fall towards each tile's edges (where a
convolutional model sees less context), and normalised by the sum of weights, so every pixel of the frame
gets a weighted mean of the tiles that cover it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

EDGE_WEIGHT = 0.05  # weight at a tile's outermost pixels: small, never 0 (a frame edge has no neighbour)


@dataclass(frozen=True)
class TileSpec:
    """tile: the model's input side (0: take it from the model); overlap: pixels shared by neighbours;
    working_size: the longer side a frame is resized to first (aspect kept; 0 = native); score: "max" or
    "topk" (mean of the top_k highest pixels of the stitched map, steadier than one pixel)."""

    tile: int = 0
    overlap: int = 32
    working_size: int = 0
    score: str = "max"
    top_k: int = 100

    def __post_init__(self) -> None:
        if self.tile != 0 and self.tile < 8:
            raise ValueError(f"tiling.tile: expected >= 8 pixels (or 0: the model's input), got {self.tile}")
        if self.overlap < 0 or (self.tile and self.overlap >= self.tile):
            raise ValueError(f"tiling.overlap: expected 0 <= overlap < tile ({self.tile}), got {self.overlap}")
        if self.working_size < 0:
            raise ValueError(f"tiling.working_size: expected >= 0, got {self.working_size}")
        if self.score not in ("max", "topk") or self.top_k < 1:
            raise ValueError(f"tiling.score: expected max or topk with top_k >= 1, got {self.score}/{self.top_k}")


def working_shape(height: int, width: int, working_size: int) -> tuple[int, int]:
    """(h, w) with the longer side = working_size and the aspect ratio kept; the frame's own size for 0 or
    when it is already smaller (never upscaled)."""
    longest = max(height, width)
    if working_size <= 0 or longest <= working_size:
        return height, width
    scale = working_size / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def positions(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along one axis: step tile - overlap, the last one flush with the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(y, x) of every tile covering an (at least tile-sized) height x width image, row by row."""
    return [(y, x) for y in positions(height, tile, overlap) for x in positions(width, tile, overlap)]


def window(tile: int, overlap: int) -> np.ndarray:
    """tile x tile float32 weights: 1 in the middle, a linear ramp down to EDGE_WEIGHT across `overlap`."""
    if overlap == 0:
        return np.ones((tile, tile), np.float32)
    i = np.arange(tile, dtype=np.float32)
    ramp = np.minimum(1.0, np.minimum(i + 0.5, tile - i - 0.5) / overlap)
    ramp = EDGE_WEIGHT + (1.0 - EDGE_WEIGHT) * ramp
    return np.outer(ramp, ramp).astype(np.float32)


def pad_to_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """An image smaller than a tile in a dimension, reflected out to the tile size (bottom/right)."""
    h, w = image.shape[:2]
    if h >= tile and w >= tile:
        return image
    return cv2.copyMakeBorder(image, 0, max(0, tile - h), 0, max(0, tile - w), cv2.BORDER_REFLECT_101)


def to_working(image: np.ndarray, working_size: int, tile: int,
               interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, tuple[int, int]]:
    """(image at the working size padded out to at least one tile, (h, w) before the padding): what tiled
    inference cuts, and what tile training crops from. A part mask goes through with INTER_NEAREST."""
    h, w = working_shape(image.shape[0], image.shape[1], working_size)
    work = image if (h, w) == image.shape[:2] else cv2.resize(image, (w, h), interpolation=interpolation)
    return pad_to_tile(work, tile), (h, w)


def cut(image: np.ndarray, tiles: Sequence[tuple[int, int]], tile: int) -> list[np.ndarray]:
    """The tiles of `image` (views, not copies)."""
    return [image[y:y + tile, x:x + tile] for y, x in tiles]


def stitch(maps: Sequence[np.ndarray], tiles: Sequence[tuple[int, int]], height: int, width: int,
           weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the tile maps over a height x width map (float32)."""
    if len(maps) != len(tiles):
        raise ValueError(f"stitch: {len(maps)} maps for {len(tiles)} tiles")
    tile = weights.shape[0]
    total = np.zeros((height, width), np.float32)
    norm = np.zeros((height, width), np.float32)
    for m, (y, x) in zip(maps, tiles, strict=True):
        if m.shape != (tile, tile):
            raise ValueError(f"stitch: tile map of shape {m.shape}, expected {(tile, tile)}")
        total[y:y + tile, x:x + tile] += m * weights
        norm[y:y + tile, x:x + tile] += weights
    if not norm.all():
        raise ValueError("stitch: the tiles do not cover the map")
    out: np.ndarray = total / norm
    return out


def frame_score(amap: np.ndarray, spec: TileSpec) -> float:
    """max, or the mean of the top_k highest values, of a stitched map."""
    if spec.score == "max" or amap.size <= spec.top_k:
        return float(amap.max()) if spec.score == "max" else float(amap.mean())
    flat = amap.reshape(-1)
    return float(np.partition(flat, flat.size - spec.top_k)[-spec.top_k:].mean())
