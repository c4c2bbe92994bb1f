"""The tiling flags shared by evaluate, bench and calibrate (the daemon takes model.tiling from its config)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and OpenCV load only when a verb runs, never for --help
    from ..model.tiling import TileSpec


def add_tiling_args(p: argparse.ArgumentParser) -> None:
    """--tiles and its settings: score frames tile by tile at native resolution (model/tiling.py)."""
    p.add_argument("--tiles", action="store_true", help="score each frame in overlapping model-sized tiles at "
                   "--working-size instead of one squashed pass")
    p.add_argument("--working-size", type=int, default=0, help="--tiles: resize the longer side to this first "
                   "(aspect kept; 0 = native resolution)")
    p.add_argument("--overlap", type=int, default=32, help="--tiles: pixels shared by neighbouring tiles")
    p.add_argument("--tile-score", choices=("max", "topk"), default="max", help="--tiles: frame score = max of "
                   "the stitched map, or the mean of its --top-k highest pixels")
    p.add_argument("--top-k", type=int, default=100)


def tiling_spec(args: argparse.Namespace) -> TileSpec | None:
    """The TileSpec for the flags, None without --tiles; ValueError names the flag's setting."""
    if not getattr(args, "tiles", False):
        return None
    from ..model.tiling import TileSpec

    return TileSpec(0, args.overlap, args.working_size, args.tile_score, args.top_k)
