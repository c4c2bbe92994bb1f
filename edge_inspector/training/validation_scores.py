"""The good validation images' scores and maps that set a model's threshold, computed as the line computes them.

One definition of the score (STYLE.md 17): training scores through backends.Backend.infer, the one
chunk-score-map-back loop that evaluate, calibrate and the daemon run. A whole-frame model is scored while still
in memory, wrapped in a TorchBackend (fp32), then over the part only (part_region.scores_on_part); a tiled model
through TiledBackend around the saved model (tiled_validation.py), on the stitched full-frame map.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..backends.base import BackendOptions
from ..backends.torch_backend import TorchBackend
from ..model.checkpoint import save_model
from ..model.metadata import ModelMetadata
from ..model.tiling import TileSpec
from .model_threshold import calibrate
from .part_region import scores_on_part
from .run_data import RunData
from .tiled_validation import score_stitched
from .train_config import TrainConfig


def score_in_memory(model: nn.Module, rgb: np.ndarray, meta: ModelMetadata, device: str,
                    batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Scores [N] (float32) and maps [N, h, w] of uint8 RGB images already cropped to the ROI and at the
    model's input size, through TorchBackend.infer on `model` (on `device`), `batch` images per call."""
    frames = [np.ascontiguousarray(image[..., ::-1]) for image in rgb]  # a backend takes BGR frames
    # The images are cropped already: the backend must neither crop them again nor map them back into a frame.
    backend = TorchBackend.from_module(model, dataclasses.replace(meta, roi=None), device,
                                       BackendOptions(precision="fp32", max_batch=batch))
    try:
        out = backend.infer(frames)
    finally:
        backend.close()
    return np.asarray([o.score for o in out], np.float32), np.stack([o.map for o in out])


def calibrate_on_validation(model: nn.Module, meta: ModelMetadata, data: RunData, cfg: TrainConfig, device: str,
                            out_dir: Path) -> dict[str, Any]:
    """model_threshold.calibrate on the daemon's scores of the run's good validation images: a whole-frame model
    in memory, over its part; a tiled model saved to `out_dir` first and each whole image tiled and stitched."""
    val_maps: np.ndarray | list[np.ndarray]
    if cfg.tiles:  # the daemon's score: each whole image tiled, stitched, judged over its part
        save_model(model, meta, out_dir)  # scored below through the saved model, as evaluate and the daemon do
        spec = TileSpec(0, cfg.tile_overlap, cfg.tile_working_size)
        scores, val_maps = score_stitched(out_dir, [data.files[i] for i in data.val_img], spec, device, data.ignore)
    else:
        raw_scores, raw_maps = score_in_memory(model, data.images[data.val_idx], meta, device)
        parts = None if data.parts is None else data.parts[data.val_idx]
        scores, val_maps = scores_on_part(raw_scores, raw_maps, parts)
    cal = calibrate(scores, val_maps, cfg.frr_target)
    if cfg.tiles:
        cal["calibration"]["scores"] = f"stitched full-frame maps ({spec.score}, overlap {spec.overlap}, " \
                                       f"working size {spec.working_size or 'native'})"
    return cal
