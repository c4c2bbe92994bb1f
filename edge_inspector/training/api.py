"""Entry points used by the CLI and the demo: pick the model kind, build the TrainConfig, train."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..model.backbone import pretrained_weights_available
from . import presets
from .kind_training import kind_training, resolve
from .train_config import TrainConfig, TrainResult

log = logging.getLogger(__name__)


def choose_kind(kind: str, backbone_weights: Path | None, random_backbone: bool = False) -> str:
    """auto = feature autoencoder when ImageNet weights exist, otherwise the scratch autoencoder."""
    if kind != "auto":
        return kind
    chosen = "feature" if pretrained_weights_available(backbone_weights) and not random_backbone else "scratch"
    log.info("model kind auto -> %s (%s)", chosen,
             "ImageNet ResNet-50 weights found" if chosen == "feature" else "no ImageNet weights found")
    return chosen


def train_from_args(args: argparse.Namespace) -> TrainResult:
    """`edge-inspector train` flags -> a training run."""
    given = {key: getattr(args, key, None) for key in ("kind", "input_size", "encoder_layers", "width", "epochs",
                                                       "batch_size", "patience", "max_minutes", "precision")}
    flags = presets.resolve(given, getattr(args, "preset", None))
    kind = choose_kind(flags["kind"], args.backbone_weights, args.random_backbone)
    base = kind_training(kind)  # per-kind defaults for a full run on a GPU; the flags override them
    cfg = TrainConfig(
        kind=kind, input_size=flags["input_size"], encoder_layers=flags["encoder_layers"], width=flags["width"],
        epochs=int(flags["epochs"] or base.epochs), batch_size=int(flags["batch_size"] or base.batch_size),
        lr=float(args.lr or base.lr), patience=flags["patience"], hflip=args.hflip, vflip=args.vflip,
        max_rotation=args.max_rotation, random_backbone=args.random_backbone,
        seed=args.seed, device=args.device, max_minutes=flags["max_minutes"],
        backbone_weights=args.backbone_weights, precision=flags["precision"],
        tiles=getattr(args, "tiles", False), tile_working_size=getattr(args, "working_size", 0),
        tile_overlap=getattr(args, "overlap", 32),
        tile_crops="grid" if getattr(args, "grid_tiles", False) else "random",
        roi=tuple(args.roi) if getattr(args, "roi", None) else None,
        part_mask=getattr(args, "ignore_mask", None), auto_mask=getattr(args, "auto_mask", False),
        mask_margin=getattr(args, "mask_margin", 0),
        split=getattr(args, "split", None), init_encoder=getattr(args, "init_encoder", None),
    )
    if getattr(args, "preset", None):
        log.info("preset %s: %s", args.preset, ", ".join(f"{k}={v}" for k, v in sorted(flags.items())))
    return train(args.data, args.out, cfg)


def train(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train cfg's kind with the loop that fits it (training/kind_training.py)."""
    from .supervised_data import check_labelled_flags

    check_labelled_flags(cfg)  # --split/--init-encoder: required or refused by the kind, in one line
    result: TrainResult = resolve(kind_training(cfg.kind).trainer)(data_dir, out_dir, cfg, progress)
    return result


def train_demo_model(data_dir: Path, out_dir: Path, *, size: int, max_minutes: float, seed: int = 0,
                     epochs: int = 60) -> TrainResult:
    """The demo's compact model: ResNet-50 stem..layer2 at small input size, CPU-friendly."""
    kind = choose_kind("auto", None)
    cfg = TrainConfig(kind=kind, input_size=size, encoder_layers=2, width=64, epochs=epochs, batch_size=8,
                      lr=5e-4, patience=epochs, seed=seed, max_minutes=max_minutes)
    return train(data_dir, out_dir, cfg)
