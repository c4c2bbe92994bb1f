"""What a training run leaves beside its model: the `train` and `versions` records of its metadata, and the loss
history (history.csv, loss_curve.png) that shows why training stopped where it did."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from .. import __version__
from .data import data_hash
from .lr_schedule import LR_FLOOR, LR_HOLD
from .run_data import RunData
from .train_config import TrainConfig

log = logging.getLogger(__name__)


def train_record(cfg: TrainConfig, data_dir: Path, data: RunData, epochs: int, seconds: float, device: str,
                 backbone: str, dtype_name: str | None, gray: bool, best: float,
                 history: list[tuple[float, float]]) -> dict[str, Any]:
    """The metadata's `train` record: data, split, schedule, precision, losses, part mask, augmentation, tiling."""
    ignore = data.ignore
    return {"data_dir": str(data_dir), "data_hash": data_hash(data.files), "n_train": len(data.train_idx),
            "n_val": len(data.val_idx), "epochs": epochs, "seconds": round(seconds, 1), "device": device_name(device),
            "seed": cfg.seed, "backbone": backbone,
            "precision": dtype_name or "float32", "lr": cfg.learning_rate, "batch_size": cfg.batch_size,
            "lr_schedule": f"hold {LR_HOLD:.0%}, cosine to {LR_FLOOR:.0%}", "grayscale": gray,
            "best_val_loss": best,
            "final_train_loss": history[-1][0] if history else None,
            "final_val_loss": history[-1][1] if history else None,
            "part_mask": None if ignore is None else {
                "source": str(cfg.part_mask) if cfg.part_mask else f"auto, margin {cfg.mask_margin} px",
                "part_fraction": round(float(np.mean(ignore == 0)), 4)},
            "augment": {"hflip": cfg.hflip, "vflip": cfg.vflip, "max_rotation": cfg.max_rotation},
            "tiling": {"working_size": cfg.tile_working_size, "overlap": cfg.tile_overlap,
                       "tiles": len(data.images), "crops": cfg.tile_crops} if cfg.tiles else None}


def versions() -> dict[str, str | None]:
    """The versions that trained the model (its metadata's `versions` record)."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "edge_inspector": __version__}


def device_name(device: str) -> str:
    """The device a run trained on, named for the record (the GPU's model, or the CPU's)."""
    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()})"


def save_history(history: list[tuple[float, float]], out_dir: Path, title: str) -> None:
    """history.csv and loss_curve.png beside the model: why training stopped where it did."""
    lines = ["epoch,train_loss,val_loss"] + [f"{i},{t:.6f},{v:.6f}" for i, (t, v) in enumerate(history, 1)]
    (out_dir / "history.csv").write_text("\n".join(lines) + "\n")
    try:
        from ..evaluation.plots import plot_loss_curve

        plot_loss_curve(history, out_dir / "loss_curve.png", title)
    except ImportError:  # matplotlib is optional at training time; the CSV carries the same numbers
        log.info("matplotlib not installed: no loss_curve.png (history.csv has the numbers)")
