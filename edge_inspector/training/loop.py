"""The training loop for the kinds trained by epochs on good images (the autoencoders): seeds, AMP/channels-last
on CUDA, early stopping, a wall-clock budget, progress on stderr, then the model's threshold and a model dir
with metadata.

What a run is told is in train_config.py, its images in run_data.py, its loss in objective.py, its schedule in
lr_schedule.py, its threshold in validation_scores.py and what it records in run_record.py.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..model.checkpoint import weights_digest
from ..model.metadata import ModelMetadata
from ..model.networks import build_model
from ..model.part_mask import save_part_mask
from ..model.preprocess import normalise
from .crops import FixedBatches, RandomCrops
from .data import is_grayscale
from .epoch_loop import EpochLoop
from .kind_training import kind_training, resolve
from .objective import compute_loss, validation_loss
from .part_region import augment_with_part
from .presets import training_dtype
from .run_data import load_run_data
from .run_finish import calibrate_and_save
from .run_record import train_record, versions
from .train_config import TrainConfig, TrainResult

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train on good images, calibrate on held-out good images, save model.pt + metadata.json."""
    seed_everything(cfg.seed)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    size = (cfg.input_size, cfg.input_size)
    arch = resolve(kind_training(cfg.kind).arch)(cfg)
    meta = ModelMetadata(model_id="", kind=cfg.kind, input_size=size, arch=arch, roi=cfg.roi)
    data = load_run_data(data_dir, cfg)
    images, train_idx, val_idx = data.images, data.train_idx, data.val_idx
    p_train = None if data.parts is None else torch.from_numpy(data.parts[train_idx])
    p_val = None if data.parts is None else torch.from_numpy(data.parts[val_idx])
    model, backbone = _build_model(cfg, size, arch)
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
        source = RandomCrops([data.files[i] for i in data.train_img], cfg.input_size, cfg.tile_working_size, meta,
                             len(train_idx), cfg.roi, data.ignore)
    else:
        source = FixedBatches(torch.from_numpy(normalise(images[train_idx], meta)), p_train)
    x_val = torch.from_numpy(normalise(images[val_idx], meta))
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, len(source) // cfg.batch_size)
    run = EpochLoop(cfg, opt, scaler, steps, progress)
    log.info("training %s on %d %simages (%d validation) at %dx%d on %s, %s", cfg.kind, len(train_idx),
             "grayscale " if gray else "", len(val_idx), cfg.input_size, cfg.input_size, device,
             f"{dtype_name} autocast" if dtype_name else "fp32")
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(source), generator=gen)
        for step in range(steps):
            run.schedule(epoch, step)
            xb, pb = source.take(order[step * cfg.batch_size:(step + 1) * cfg.batch_size], gen)
            xb, pb = augment_with_part(xb, pb, gen, cfg.hflip, cfg.vflip, cfg.max_rotation)
            xb = xb.to(device, non_blocking=True)
            pb = None if pb is None else pb.to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            run.backward(compute_loss(model, cfg.kind, xb, gen, amp_dtype, gray_stats, pb), step)
        val = validation_loss(model, cfg.kind, x_val, device, cfg.seed, gray_stats, amp_dtype, p_val)
        if run.end_epoch(model, val):
            break
    seconds = run.finish(model)
    best, history = run.best, run.history
    model = model.to(memory_format=torch.contiguous_format)
    meta.model_id = f"{cfg.kind}-{weights_digest(model)}"
    meta.train = train_record(cfg, data_dir, data, epoch, seconds, device, backbone, dtype_name, gray, best, history)
    meta.versions = versions()
    if data.ignore is not None:
        meta.part_mask = save_part_mask(data.ignore, out_dir)
    return calibrate_and_save(model, meta, data, cfg, device, out_dir, data_dir, epoch, seconds, best, history)


def _build_model(cfg: TrainConfig, size: tuple[int, int], arch: dict[str, int]) -> tuple[nn.Module, str]:
    """The untrained network of cfg's kind and where its encoder's weights came from (feature kind)."""
    model = build_model(cfg.kind, size, arch)
    backbone = "random init"
    if cfg.kind == "feature" and not cfg.random_backbone:
        from ..model.backbone import load_backbone_weights

        backbone = str(load_backbone_weights(model.encoder, cfg.backbone_weights))  # type: ignore[arg-type]
    elif cfg.kind == "feature":
        log.warning("feature autoencoder with a RANDOM frozen encoder (--random-backbone): a pipeline check, "
                    "far weaker than with ImageNet weights")
    return model, backbone
