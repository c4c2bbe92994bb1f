"""The end of every run trained by epochs (loop.py, supervised.py): the threshold on the good validation
images, then model.pt, metadata.json and the loss history in the model dir."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from ..model.checkpoint import save_model
from ..model.metadata import ModelMetadata
from .run_data import RunData
from .run_record import save_history
from .train_config import TrainConfig, TrainResult
from .validation_scores import calibrate_on_validation

log = logging.getLogger(__name__)


def calibrate_and_save(model: nn.Module, meta: ModelMetadata, data: RunData, cfg: TrainConfig, device: str,
                       out_dir: Path, data_dir: Path, epochs: int, seconds: float, best: float,
                       history: list[tuple[float, float]]) -> TrainResult:
    """Set meta's thresholds and score statistics from the good validation images, write the model dir."""
    cal = calibrate_on_validation(model, meta, data, cfg, device, out_dir)
    meta.image_threshold, meta.pixel_threshold = cal["image_threshold"], cal["pixel_threshold"]
    meta.score_stats, meta.calibration = cal["score_stats"], cal["calibration"]
    log.info("calibrated on %d good validation images: threshold %.4f (pixel %.4f)", cal["score_stats"]["n"],
             meta.image_threshold, meta.pixel_threshold)
    save_model(model, meta, out_dir)
    save_history(history, out_dir, f"{cfg.kind} model, {Path(data_dir).name}")
    return TrainResult(out_dir, meta, epochs, seconds, best, history)
