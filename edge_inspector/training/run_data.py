"""The images one training run learns and validates on: loaded as inference sees them, split by image (never
by tile: a validation image's tiles are never trained on), with the part mask and its per-image weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import good_image_files, load_images, load_tiles, part_weights, split_train_val
from .part_region import training_ignore_mask
from .train_config import TrainConfig


@dataclass(frozen=True)
class RunData:
    """files: the good images; images: uint8 RGB [N, h, w, 3] at input size (tiles when tiled);
    train_idx/val_idx: rows of `images`; train_img/val_img: indices into `files` (the same as the rows when
    not tiled); ignore: the frame-size ignore mask or None; parts: [N, 1, h, w] part weights or None."""

    files: list[Path]
    images: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    train_img: np.ndarray
    val_img: np.ndarray
    ignore: np.ndarray | None
    parts: np.ndarray | None


def load_run_data(data_dir: Path, cfg: TrainConfig) -> RunData:
    """Read the good images of `data_dir` the way `cfg` trains on them."""
    files = good_image_files(data_dir)
    size = (cfg.input_size, cfg.input_size)
    if cfg.tiles:  # split by image, never by tile: a validation image's tiles are never trained on
        images, owner = load_tiles(files, cfg.input_size, cfg.tile_working_size, cfg.tile_overlap, cfg.roi)
        train_img, val_img = split_train_val(len(files), cfg.val_fraction, cfg.seed)
        train_idx, val_idx = np.flatnonzero(np.isin(owner, train_img)), np.flatnonzero(np.isin(owner, val_img))
    else:
        images = load_images(files, size, cfg.roi)
        train_idx, val_idx = split_train_val(len(images), cfg.val_fraction, cfg.seed)
        train_img, val_img = train_idx, val_idx
    ignore = training_ignore_mask(cfg.part_mask, cfg.auto_mask, cfg.mask_margin, files)
    tiles = (cfg.input_size, cfg.tile_working_size, cfg.tile_overlap) if cfg.tiles else None
    parts = None if ignore is None else part_weights(files, ignore, size, cfg.roi, tiles)
    return RunData(files, images, train_idx, val_idx, train_img, val_img, ignore, parts)
