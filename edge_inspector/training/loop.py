"""Training loop for the three autoencoder kinds: seeds, AMP/channels-last on CUDA, early stopping,
a wall-clock budget, progress on stderr, then calibration and a model dir with metadata."""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .. import __version__
from ..evaluation.policies import DEFAULT_TARGET
from ..evaluation.progress import TrainProgress
from ..model.checkpoint import save_model, weights_digest
from ..model.losses import focal_loss, ssim_map
from ..model.metadata import ModelMetadata
from ..model.networks import build_model
from ..model.part_mask import save_part_mask
from ..model.preprocess import normalise
from ..model.tiling import TileSpec
from .augment import simulate_anomalies
from .crops import FixedBatches, RandomCrops
from .data import data_hash, good_image_files, is_grayscale, load_images, load_tiles, part_weights, split_train_val
from .model_threshold import calibrate, score_images
from .part_region import augment_with_part, scores_on_part, training_ignore_mask
from .presets import training_dtype
from .tiled_validation import score_stitched

log = logging.getLogger(__name__)

# Adam learning rates that train each kind stably at batch 8 (the feature AE only trains its decoder).
DEFAULT_LR: dict[str, float] = {"scratch": 3e-4, "pixel": 3e-4, "feature": 5e-4}


@dataclass
class TrainConfig:
    """Everything that decides a training run (recorded in the model's metadata).

    input_size is the square side in pixels; width is the decoder width (the feature AE uses 2 x width);
    lr None picks the kind's default (DEFAULT_LR). max_minutes stops after the epoch that exceeds it.
    roi (x, y, w, h) crops every frame before resizing, in training and at inference.
    """

    kind: str = "scratch"
    input_size: int = 256
    encoder_layers: int = 3
    width: int = 128
    epochs: int = 100
    batch_size: int = 8
    lr: float | None = None
    val_fraction: float = 0.15
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    max_minutes: float | None = None
    frr_target: float = DEFAULT_TARGET  # the good-only rule's false-reject target (evaluation/policies.py)
    roi: tuple[int, int, int, int] | None = None
    hflip: bool = False  # off by default: flips are wrong for oriented parts
    vflip: bool = False
    max_rotation: float = 0.0  # degrees
    backbone_weights: Path | None = None
    random_backbone: bool = False  # feature AE only: frozen random encoder, for pipeline checks without weights
    # Train on tiles (model.tiling at inference): input_size is then the tile, cut with `tile_overlap` from each
    # good image resized (aspect kept) to `tile_working_size` (0: native resolution).
    tiles: bool = False
    tile_working_size: int = 0
    tile_overlap: int = 32
    tile_crops: str = "random"  # random: fresh tile-sized crops each step; grid: the inference grid's tiles
    # The part mask (model/part_mask.py): an ignore-mask PNG at frame size, or found in the good images
    # (model/part_geometry.py) with `mask_margin` pixels of the part's edge ignored too.
    part_mask: Path | None = None
    auto_mask: bool = False
    mask_margin: int = 0
    # auto: bf16 autocast on CUDA (fp16 without bf16) and on CPUs with bf16 units; fp32 or bf16 to force.
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_LR:
            raise ValueError(f"train kind: expected one of {', '.join(DEFAULT_LR)}, got {self.kind!r}")
        if not 1 <= self.encoder_layers <= 4:
            raise ValueError(f"encoder_layers: expected 1..4, got {self.encoder_layers}")
        if self.tile_crops not in ("random", "grid"):
            raise ValueError(f"tile_crops: expected random or grid, got {self.tile_crops!r}")
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size: expected a multiple of 32 >= 32, got {self.input_size}")
        if not 0 < self.frr_target < 0.5:
            raise ValueError(f"frr_target: expected 0 < frr_target < 0.5, got {self.frr_target}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.kind]


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    metadata: ModelMetadata
    epochs_run: int
    seconds: float
    best_val_loss: float
    history: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> str:
        m = self.metadata
        s = m.score_stats
        return "\n".join([
            f"trained {m.kind} autoencoder {m.model_id}: {self.epochs_run} epochs in {self.seconds:.0f} s "
            f"on {m.train.get('device')}, best val loss {self.best_val_loss:.4f}",
            f"  good validation scores: median {s.get('p50', 0):.4f}, max {s.get('max', 0):.4f} (n={s.get('n')})",
            f"  threshold {m.image_threshold:.4f} (pixel {m.pixel_threshold:.4f}), policy: "
            f"{m.calibration.get('policy')} target {m.calibration.get('frr_target')}",
            f"  saved to {self.model_dir}",
        ])


LR_HOLD, LR_FLOOR = 0.6, 0.02  # lr_factor's schedule, also recorded in the model's metadata


def lr_factor(progress: float, hold: float = LR_HOLD, floor: float = LR_FLOOR) -> float:
    """Learning-rate multiplier: 1 for the first `hold` of training, then a cosine down to `floor`.

    progress is the fraction of training done (epochs, or wall-clock budget when that ends training
    first); annealing at the end is what settles the reconstruction and the segmentation head.
    """
    if progress <= hold:
        return 1.0
    t = min(1.0, (progress - hold) / (1.0 - hold))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _mean_over(err: torch.Tensor, part: torch.Tensor | None) -> torch.Tensor:
    """Mean of a per-pixel error [B,C,H,W] over the part's pixels (part [B,1,H,W] in {0,1}), or everywhere."""
    if part is None:
        return err.mean()
    if part.shape[-2:] != err.shape[-2:]:
        part = F.interpolate(part, size=err.shape[-2:], mode="area")
    return (err * part).sum() / (part.sum() * err.shape[1]).clamp_min(1.0)


def compute_loss(model: nn.Module, kind: str, x: torch.Tensor, gen: torch.Generator,
                 amp_dtype: torch.dtype | None = None,
                 gray_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
                 part: torch.Tensor | None = None) -> torch.Tensor:
    """The kind's training objective on a normalised batch; with `part` ([B,1,H,W], 1 = the part) the
    reconstruction counts on the part only and simulated anomalies land on it only.

    Only the network runs under autocast (amp_dtype, on the batch's device); anomaly simulation and the
    losses stay in float32, because SSIM's variance terms (E[x^2] - E[x]^2) cancel catastrophically in
    bf16/fp16.
    """
    amp = (torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype is not None
           else contextlib.nullcontext())
    if kind == "scratch":
        corrupted, masks = simulate_anomalies(x, gen, gray_stats=gray_stats, region=part)
        with amp:
            recon, logits = model.reconstruct_and_segment(corrupted)  # type: ignore[operator]
        recon, logits = recon.float(), logits.float()
        rec = _mean_over((recon - x) ** 2, part) + _mean_over(1 - ssim_map(recon, x), part)
        return rec + 5.0 * focal_loss(logits, masks)
    if kind == "pixel":
        with amp:
            recon = model.reconstruct(x)  # type: ignore[operator]
        recon = recon.float()
        return _mean_over((recon - x).abs(), part) + _mean_over(1 - ssim_map(recon, x), part)
    with amp:
        feats, recons = model.features(x)  # type: ignore[operator]
    losses = [_mean_over(1 - F.cosine_similarity(f.float(), r.float(), dim=1)[:, None], part)
              for f, r in zip(feats, recons)]
    return torch.stack(losses).sum()


def train(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train on good images, calibrate on held-out good images, save model.pt + metadata.json."""
    seed_everything(cfg.seed)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    files = good_image_files(data_dir)
    size = (cfg.input_size, cfg.input_size)
    arch = {"encoder_layers": cfg.encoder_layers, "width": cfg.width if cfg.kind != "feature" else 2 * cfg.width}
    meta = ModelMetadata(model_id="", kind=cfg.kind, input_size=size, arch=arch, roi=cfg.roi)
    owner: np.ndarray | None = None
    if cfg.tiles:  # split by image, never by tile: a validation image's tiles are never trained on
        images, owner = load_tiles(files, cfg.input_size, cfg.tile_working_size, cfg.tile_overlap, cfg.roi)
        train_img, val_img = split_train_val(len(files), cfg.val_fraction, cfg.seed)
        train_idx, val_idx = np.flatnonzero(np.isin(owner, train_img)), np.flatnonzero(np.isin(owner, val_img))
    else:
        images = load_images(files, size, cfg.roi)
        train_idx, val_idx = split_train_val(len(images), cfg.val_fraction, cfg.seed)
    ignore = training_ignore_mask(cfg.part_mask, cfg.auto_mask, cfg.mask_margin, files)
    tiles = (cfg.input_size, cfg.tile_working_size, cfg.tile_overlap) if cfg.tiles else None
    parts = None if ignore is None else part_weights(files, ignore, size, cfg.roi, tiles)
    p_train = None if parts is None else torch.from_numpy(parts[train_idx])
    p_val = None if parts is None else torch.from_numpy(parts[val_idx])
    model = build_model(cfg.kind, size, arch)
    backbone = "random init"
    if cfg.kind == "feature" and not cfg.random_backbone:
        from ..model.backbone import load_backbone_weights

        backbone = str(load_backbone_weights(model.encoder, cfg.backbone_weights))  # type: ignore[arg-type]
    elif cfg.kind == "feature":
        log.warning("feature autoencoder with a RANDOM frozen encoder (--random-backbone): a pipeline check, "
                    "far weaker than with ImageNet weights")
    model = model.to(device)
    cuda = device.startswith("cuda")
    dtype_name = training_dtype(cfg.precision, device)
    amp_dtype = getattr(torch, dtype_name) if dtype_name else None
    # channels-last pays with reduced precision (tensor cores, AMX); in fp32 on a CPU it gains nothing.
    channels_last = cuda or amp_dtype is not None
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest conv kernels
    # bf16 needs no loss scaling; older GPUs fall back to fp16 with a GradScaler.
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=1e-5)
    gray = is_grayscale(images)
    gray_stats = (torch.tensor(meta.mean).view(1, 3, 1, 1), torch.tensor(meta.std).view(1, 3, 1, 1)) if gray else None
    source: FixedBatches | RandomCrops
    if cfg.tiles and cfg.tile_crops == "random":
        source = RandomCrops([files[i] for i in train_img], cfg.input_size, cfg.tile_working_size, meta,
                             len(train_idx), cfg.roi, ignore)
    else:
        source = FixedBatches(torch.from_numpy(normalise(images[train_idx], meta)), p_train)
    x_val = torch.from_numpy(normalise(images[val_idx], meta))
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, len(source) // cfg.batch_size)
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else None
    bar = TrainProgress(f"train {cfg.kind}", cfg.epochs, steps, budget_s=budget_s) if progress else None
    log.info("training %s on %d %simages (%d validation) at %dx%d on %s, %s", cfg.kind, len(train_idx),
             "grayscale " if gray else "", len(val_idx), cfg.input_size, cfg.input_size, device,
             f"{dtype_name} autocast" if dtype_name else "fp32")
    best, best_state, bad_epochs, history = float("inf"), None, 0, []
    t0 = time.monotonic()
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(source), generator=gen)
        running = 0.0
        for step in range(steps):
            done = (epoch - 1 + step / steps) / cfg.epochs
            if cfg.max_minutes:
                done = max(done, (time.monotonic() - t0) / 60 / cfg.max_minutes)
            for group in opt.param_groups:
                group["lr"] = cfg.learning_rate * lr_factor(done)
            xb, pb = source.take(order[step * cfg.batch_size:(step + 1) * cfg.batch_size], gen)
            xb, pb = augment_with_part(xb, pb, gen, cfg.hflip, cfg.vflip, cfg.max_rotation)
            xb = xb.to(device, non_blocking=True)
            pb = None if pb is None else pb.to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            loss = compute_loss(model, cfg.kind, xb, gen, amp_dtype, gray_stats, pb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            running += float(loss.detach())
            if bar:
                bar.step(epoch, step + 1, running / (step + 1))
        val = _val_loss(model, cfg.kind, x_val, device, cfg.seed, gray_stats, amp_dtype, p_val)
        history.append((running / steps, val))
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f (%.0f s)", epoch, cfg.epochs, running / steps, val,
                 time.monotonic() - t0)
        if val < best - 1e-4:
            best, bad_epochs = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        minutes = (time.monotonic() - t0) / 60
        if bad_epochs >= cfg.patience or (cfg.max_minutes is not None and minutes >= cfg.max_minutes):
            log.info("stopping after epoch %d (%s)", epoch, "early stop" if bad_epochs >= cfg.patience else "budget")
            break
    if bar:
        bar.close()
    seconds = time.monotonic() - t0
    if best_state is not None:
        model.load_state_dict(best_state)
    model = model.to(memory_format=torch.contiguous_format)
    meta.model_id = f"{cfg.kind}-{weights_digest(model)}"
    meta.train = {"data_dir": str(data_dir), "data_hash": data_hash(files), "n_train": len(train_idx),
                  "n_val": len(val_idx), "epochs": epoch, "seconds": round(seconds, 1), "device": _device_name(device),
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
                             "tiles": len(images), "crops": cfg.tile_crops} if cfg.tiles else None}
    meta.versions = {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__, "edge_inspector": __version__}
    if ignore is not None:
        meta.part_mask = save_part_mask(ignore, out_dir)
    val_maps: np.ndarray | list[np.ndarray]
    if cfg.tiles:  # the daemon's score: each whole image tiled, stitched, judged over its part
        save_model(model, meta, out_dir)  # scored below through the saved model, as evaluate and the daemon do
        spec = TileSpec(0, cfg.tile_overlap, cfg.tile_working_size)
        scores, val_maps = score_stitched(out_dir, [files[i] for i in val_img], spec, device, ignore)
    else:
        raw_scores, raw_maps = score_images(model, images[val_idx], meta, device)
        scores, val_maps = scores_on_part(raw_scores, raw_maps, None if parts is None else parts[val_idx])
    cal = calibrate(scores, val_maps, cfg.frr_target)
    if cfg.tiles:
        cal["calibration"]["scores"] = f"stitched full-frame maps ({spec.score}, overlap {spec.overlap}, " \
                                       f"working size {spec.working_size or 'native'})"
    meta.image_threshold, meta.pixel_threshold = cal["image_threshold"], cal["pixel_threshold"]
    meta.score_stats, meta.calibration = cal["score_stats"], cal["calibration"]
    log.info("calibrated on %d good validation images: threshold %.4f (pixel %.4f)", len(scores),
             meta.image_threshold, meta.pixel_threshold)
    save_model(model, meta, out_dir)
    _save_history(history, out_dir, f"{cfg.kind} autoencoder, {Path(data_dir).name}")
    return TrainResult(out_dir, meta, epoch, seconds, best, history)


def _save_history(history: list[tuple[float, float]], out_dir: Path, title: str) -> None:
    """history.csv and loss_curve.png beside the model: why training stopped where it did."""
    lines = ["epoch,train_loss,val_loss"] + [f"{i},{t:.6f},{v:.6f}" for i, (t, v) in enumerate(history, 1)]
    (out_dir / "history.csv").write_text("\n".join(lines) + "\n")
    try:
        from ..evaluation.plots import plot_loss_curve

        plot_loss_curve(history, out_dir / "loss_curve.png", title)
    except ImportError:  # matplotlib is optional at training time; the CSV carries the same numbers
        log.info("matplotlib not installed: no loss_curve.png (history.csv has the numbers)")


@torch.no_grad()
def _val_loss(model: nn.Module, kind: str, x_val: torch.Tensor, device: str, seed: int,
              gray_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
              amp_dtype: torch.dtype | None = None, part: torch.Tensor | None = None) -> float:
    """Loss on the validation images, in the training's precision (half the time of fp32 on a bf16 CPU)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)  # the same corruptions every epoch: comparable losses
    total, n = 0.0, 0
    for i in range(0, len(x_val), 8):
        xb = x_val[i:i + 8].to(device)
        pb = None if part is None else part[i:i + 8].to(device)
        total += float(compute_loss(model, kind, xb, gen, amp_dtype, gray_stats, pb)) * len(xb)
        n += len(xb)
    return total / max(1, n)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()})"
