"""The training loop of the supervised kinds (`classifier`, `small-cnn`: model/classifiers.py).

Good/defect classification on the labelled images of supervised_data.py: class-weighted BCE (pos_weight =
good / defective training images, for the imbalance), stronger augmentation than the autoencoders' (flips where
the flags allow, small rotations, brightness/contrast jitter), AdamW with the loop's schedule, early stopping on
the validation loss with the best checkpoint kept, progress on stderr. The image threshold is then set on the good
validation images through the daemon's scoring path (validation_scores.calibrate_on_validation), the same
false-reject rule as the autoencoders', so a threshold means the same thing for every kind.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..model.checkpoint import weights_digest
from ..model.classifiers import CamClassifier
from ..model.metadata import ModelMetadata
from ..model.networks import build_model
from ..model.preprocess import normalise
from .augment import augment_batch
from .data import data_hash, is_grayscale
from .epoch_loop import EpochLoop
from .kind_training import kind_training, resolve
from .loop import seed_everything
from .presets import training_dtype
from .run_finish import calibrate_and_save
from .run_record import train_record, versions
from .supervised_data import LabelledData, check_labelled_flags, load_labelled_data
from .supervised_init import initialise
from .train_config import TrainConfig, TrainResult

log = logging.getLogger(__name__)

# Rotation in degrees when --max-rotation is not given: a part's pose jitters a little on a line, and a
# classifier, unlike an autoencoder, sees good and defective parts turned alike.
SMALL_ROTATION = 5.0
JITTER = {"brightness": 0.1, "contrast": 0.15, "channel_gain": 0.05}  # +- fractions, drawn per image


def classifier_arch(cfg: TrainConfig) -> dict[str, Any]:
    """The flags a supervised network is built from; the metadata records the network's own arch (its `arch`)."""
    return {"encoder_layers": cfg.encoder_layers, "width": cfg.width}


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Mean binary cross-entropy of defect logits against labels (1 = defective), the defective terms weighted
    by pos_weight: -mean(pos_weight * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z)))."""
    weight = torch.tensor(pos_weight, dtype=torch.float32, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=weight)


def colour_jitter(x: torch.Tensor, gen: torch.Generator, mean: torch.Tensor, std: torch.Tensor,
                  gray: bool) -> torch.Tensor:
    """Per-image brightness and contrast (and, for colour images, a small per-channel gain) on a normalised batch;
    grey images stay grey."""
    n = x.shape[0]

    def draw(spread: float, channels: int = 1) -> torch.Tensor:
        return (1 + torch.empty(n, channels, 1, 1).uniform_(-spread, spread, generator=gen)).to(x.device)

    rgb = x * std + mean
    centre = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - centre) * draw(JITTER["contrast"]) + centre
    rgb = rgb * draw(JITTER["brightness"])
    if not gray:
        rgb = rgb * draw(JITTER["channel_gain"], 3)
    return (rgb.clamp(0, 1) - mean) / std


def train_supervised(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train a supervised kind on labelled images, calibrate on good validation images, save the model dir."""
    check_labelled_flags(cfg)
    seed_everything(cfg.seed)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    size = (cfg.input_size, cfg.input_size)
    data = load_labelled_data(data_dir, cfg)
    model = build_model(cfg.kind, size, resolve(kind_training(cfg.kind).arch)(cfg))
    if not isinstance(model, CamClassifier):  # a registry entry pointing this loop at another network
        raise TypeError(f"model kind {cfg.kind}: the supervised loop trains CamClassifier networks, got "
                        f"{type(model).__name__}")
    init = initialise(model, cfg)
    meta = ModelMetadata(model_id="", kind=cfg.kind, input_size=size, arch=model.arch, roi=cfg.roi)
    good = data.good
    x_train, y_train = _stack(data, meta, good.train_idx, data.defect_train)
    x_val, y_val = _stack(data, meta, good.val_idx, data.defect_val)
    n_good, n_defect = len(good.train_idx), len(data.defect_train)
    pos_weight = n_good / n_defect
    model = model.to(device)
    cuda = device.startswith("cuda")
    dtype_name = training_dtype(cfg.precision, device)
    amp_dtype = getattr(torch, dtype_name) if dtype_name else None
    if cuda or amp_dtype is not None:
        model = model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                            weight_decay=1e-4)
    gray = is_grayscale(good.images)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1).to(device) for v in (meta.mean, meta.std))
    rotation = cfg.max_rotation or SMALL_ROTATION
    gen = torch.Generator().manual_seed(cfg.seed)
    batch = max(2, min(cfg.batch_size, len(y_train)))  # BatchNorm needs 2 images a batch
    steps = max(1, len(y_train) // batch)
    run = EpochLoop(cfg, opt, scaler, steps, progress)
    log.info("training %s on %d good + %d defective %simages (%d + %d validation, split %s, pos_weight %.2f) at "
             "%dx%d on %s, %s", cfg.kind, n_good, n_defect, "grayscale " if gray else "", len(good.val_idx),
             len(data.defect_val), cfg.split, pos_weight, cfg.input_size, cfg.input_size, device,
             f"{dtype_name} autocast" if dtype_name else "fp32")
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(y_train), generator=gen)
        for step in range(steps):
            run.schedule(epoch, step)
            idx = order[step * batch:(step + 1) * batch]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            xb = augment_batch(colour_jitter(xb, gen, mean, std, gray), gen, cfg.hflip, cfg.vflip, rotation)
            if cuda or amp_dtype is not None:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(xb.device.type, amp_dtype):
                logits = model.logits(xb)
            run.backward(weighted_bce(logits, yb, pos_weight), step)
        val, caught = _validate(model, x_val, y_val, device, pos_weight, amp_dtype)
        if run.end_epoch(model, val, caught):
            break
    seconds = run.finish(model)
    best, history = run.best, run.history
    model = model.to(memory_format=torch.contiguous_format).eval()
    meta.model_id = f"{cfg.kind}-{weights_digest(model)}"
    meta.train = train_record(cfg, data_dir, good, epoch, seconds, device, init, dtype_name, gray, best, history)
    meta.train.update(_labelled_record(cfg, data, pos_weight, rotation), init=init)
    meta.versions = versions()
    return calibrate_and_save(model, meta, good, cfg, device, out_dir, data_dir, epoch, seconds, best, history)


def _autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Only the network runs under autocast (the losses stay fp32); none without a reduced-precision dtype."""
    return torch.autocast(device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _stack(data: LabelledData, meta: ModelMetadata, good_rows: np.ndarray,
           defect_rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised images (good rows, then defective rows) and their labels (0 good, 1 defective)."""
    x = np.concatenate([normalise(data.good.images[good_rows], meta), normalise(data.defect_images[defect_rows], meta)])
    y = np.concatenate([np.zeros(len(good_rows), np.float32), np.ones(len(defect_rows), np.float32)])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def _validate(model: CamClassifier, x: torch.Tensor, y: torch.Tensor, device: str, pos_weight: float,
              amp_dtype: torch.dtype | None, chunk: int = 32) -> tuple[float, str]:
    """The weighted loss over the validation images, and how many of each class the 0.5 probability sorts right."""
    model.eval()
    logits = []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk].to(device)
        with _autocast(xb.device.type, amp_dtype):
            logits.append(model.logits(xb).float().cpu())
    z = torch.cat(logits)
    loss = float(weighted_bce(z, y, pos_weight))
    good, bad = y < 0.5, y > 0.5
    caught = f"good passed {int((z[good] < 0).sum())}/{int(good.sum())}, defects caught {int((z[bad] >= 0).sum())}/" \
             f"{int(bad.sum())}"
    return loss, caught


def _labelled_record(cfg: TrainConfig, data: LabelledData, pos_weight: float, rotation: float) -> dict[str, Any]:
    """What the metadata's train record adds for a supervised run: the split, the labelled images, the loss."""
    d_train = [data.defect_rel[i] for i in data.defect_train]
    d_val = [data.defect_rel[i] for i in data.defect_val]
    good = data.good
    return {"data_hash": data_hash(data.files), "n_train": len(good.train_idx) + len(d_train),
            "n_val": len(good.val_idx) + len(d_val), "n_good": len(good.train_idx), "n_defect": len(d_train),
            "n_val_good": len(good.val_idx), "n_val_defect": len(d_val),
            "split": {"file": str(cfg.split), "dev_defects": len(data.defect_rel),
                      "dev_good_unused": data.dev_good_unused},
            "defect_files": {"train": d_train, "val": d_val},
            "loss": f"BCE, defect terms weighted by pos_weight = n_good / n_defect = {pos_weight:.4g}",
            "early_stopping": f"validation loss, patience {cfg.patience}",
            "augment": {"hflip": cfg.hflip, "vflip": cfg.vflip, "max_rotation": rotation, "jitter": dict(JITTER)}}
