"""Training of the defect-type classifier (kind `defect-types`, model/defect_types.py) from labelled defect
folders (defect_types_data.py).

Class-weighted cross-entropy (each type weighs the same however many images it has), the geometric
augmentation the flags allow (--hflip, --vflip, --max-rotation), AdamW, a stratified validation part, early
stopping on the validation loss (--patience) with the best weights kept, progress on stderr. The metadata
records the classes, the images per class and the validation accuracy (overall and per class). The image
threshold fields are unused: this model names the defect of a part another model failed, it judges nothing.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..backends.devices import resolve_device
from ..evaluation.progress import TrainProgress
from ..model.checkpoint import save_model, weights_digest
from ..model.defect_types import TypeClassifier, build_type_classifier
from ..model.metadata import ModelMetadata
from ..model.preprocess import normalise
from .augment import augment_batch
from .data import data_hash
from .defect_types_data import DefectTypeDataError, TypeData, class_weights, load_type_data
from .loop import seed_everything
from .run_record import device_name, versions
from .train_config import TrainConfig, TrainResult

log = logging.getLogger(__name__)

NOT_CALIBRATED = {"policy": "none", "note": "a defect-type classifier has no image or pixel threshold: it names "
                  "the defect of a part another model failed (model.defect_types), the threshold fields are unused"}


def type_classifier_arch(cfg: TrainConfig) -> dict[str, Any]:
    """The network's arch from the run's flags (the classes are added from the data): a small CNN whose first
    block has width/4 channels (32 at the default --width 128)."""
    return {"backbone": "small", "width": max(8, cfg.width // 4), "encoder_layers": cfg.encoder_layers}


@dataclass(frozen=True)
class TypeTrainResult(TrainResult):
    """A TrainResult whose summary speaks of classes and accuracy, not thresholds."""

    def summary(self) -> str:
        m = self.metadata
        t = m.train
        per_class = ", ".join(f"{name} {acc:.2f} ({t['val_counts'][name]})"
                              for name, acc in t["val_accuracy_per_class"].items())
        return "\n".join([
            f"trained {m.kind} model {m.model_id}: {self.epochs_run} epochs in {self.seconds:.0f} s on "
            f"{t.get('device')}, best val loss {self.best_val_loss:.4f}",
            f"  {len(t['classes'])} defect types, training images per type: "
            + ", ".join(f"{k} {v}" for k, v in t["train_counts"].items()),
            f"  validation accuracy {t['val_accuracy']:.3f} on {sum(t['val_counts'].values())} images "
            f"(per type: {per_class})",
            "  no image threshold (it names defects, it judges no part): use it as model.defect_types",
            f"  saved to {self.model_dir}",
        ])


def _check_flags(cfg: TrainConfig) -> None:
    if cfg.split is not None or cfg.init_encoder is not None or cfg.tiles or cfg.part_mask is not None \
            or cfg.auto_mask:
        raise DefectTypeDataError(f"model kind {cfg.kind}: trains on every test/<type>/ folder of --data; "
                                  "--split, --init-encoder, --tiles, --ignore-mask and --auto-mask are not supported")


def evaluate(model: TypeClassifier, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
             batch: int) -> tuple[float, np.ndarray]:
    """(weighted cross-entropy, predicted class per row) of a normalised batch, in eval mode."""
    model.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits.append(model.logits(x[i:i + batch]).float())
    z = torch.cat(logits)
    return float(F.cross_entropy(z, y, weight=weight)), z.argmax(1).cpu().numpy()


def train_defect_types(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train a defect-type classifier on data_dir's test/<type>/ folders and save it to out_dir."""
    _check_flags(cfg)
    seed_everything(cfg.seed)
    start = time.monotonic()
    data = load_type_data(Path(data_dir), cfg.input_size, cfg.roi, cfg.val_fraction, cfg.seed)
    device = resolve_device(cfg.device)
    arch = {**type_classifier_arch(cfg), "classes": data.classes}
    model = build_type_classifier((cfg.input_size, cfg.input_size), arch).to(device)
    meta = ModelMetadata(model_id="pending", kind=cfg.kind, input_size=(cfg.input_size, cfg.input_size), arch=arch,
                         roi=cfg.roi, calibration=dict(NOT_CALIBRATED))
    x_all = torch.from_numpy(normalise(data.images, meta)).to(device)
    y_all = torch.from_numpy(data.labels).to(device)
    train_counts = data.counts(data.train)
    weight = torch.from_numpy(class_weights(np.asarray(list(train_counts.values())))).to(device)
    x_val, y_val = x_all[data.val], y_all[data.val]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    batch = max(1, min(cfg.batch_size, len(data.train)))
    steps = max(1, int(np.ceil(len(data.train) / batch)))
    bar = TrainProgress(f"train {cfg.kind}", cfg.epochs, steps,
                        budget_s=cfg.max_minutes * 60 if cfg.max_minutes else None) if progress else None
    best = (float("inf"), copy.deepcopy(model.state_dict()), 0)
    history: list[tuple[float, float]] = []
    epoch = 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            order = data.train[torch.randperm(len(data.train), generator=gen).numpy()]
            total = 0.0
            for step in range(steps):
                rows = order[step * batch:(step + 1) * batch]
                if len(rows) < 2 and step > 0:  # BatchNorm needs two samples; the last odd one waits an epoch
                    continue
                xb = augment_batch(x_all[rows], gen, cfg.hflip, cfg.vflip, cfg.max_rotation)
                loss = F.cross_entropy(model.logits(xb).float(), y_all[rows], weight=weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(rows)
                if bar is not None:
                    bar.step(epoch, step + 1, loss.item())
            val_loss, _ = evaluate(model, x_val, y_val, weight, batch)
            history.append((total / len(data.train), val_loss))
            if val_loss < best[0]:
                best = (val_loss, copy.deepcopy(model.state_dict()), epoch)
            elif epoch - best[2] >= cfg.patience:
                log.info("early stop at epoch %d: validation loss not better than %.4f since epoch %d", epoch,
                         best[0], best[2])
                break
            if cfg.max_minutes is not None and time.monotonic() - start > cfg.max_minutes * 60:
                log.info("stopping after epoch %d: --max-minutes %g reached", epoch, cfg.max_minutes)
                break
    finally:
        if bar is not None:
            bar.close()
    model.load_state_dict(best[1])
    _, predicted = evaluate(model, x_val, y_val, weight, batch)
    meta.train = train_summary(cfg, Path(data_dir), data, predicted, epoch, best, history, device,
                               time.monotonic() - start)
    model = model.cpu().eval()
    meta.model_id = f"defect-types-{weights_digest(model)}"
    meta.versions = versions()
    save_model(model, meta, Path(out_dir))
    log.info("saved %s to %s", meta.model_id, out_dir)
    return TypeTrainResult(Path(out_dir), meta, epoch, time.monotonic() - start, best[0], history)


def train_summary(cfg: TrainConfig, data_dir: Path, data: TypeData, predicted: np.ndarray, epochs: int,
                  best: tuple[float, Any, int], history: list[tuple[float, float]], device: str,
                  seconds: float) -> dict[str, Any]:
    """The metadata's `train` record: data, classes, counts per class, validation accuracy, schedule."""
    truth = data.labels[data.val]
    per_class = {name: float(np.mean(predicted[truth == i] == i)) for i, name in enumerate(data.classes)}
    return {
        "data_dir": str(data_dir.resolve()), "data_hash": data_hash(data.files), "classes": data.classes,
        "train_counts": data.counts(data.train), "val_counts": data.counts(data.val),
        "types_left_out": data.left_out, "val_accuracy": float(np.mean(predicted == truth)),
        "val_accuracy_per_class": per_class, "epochs_run": epochs, "best_epoch": best[2],
        "best_val_loss": best[0], "lr": cfg.learning_rate, "batch_size": cfg.batch_size, "seed": cfg.seed,
        "augmentation": {"hflip": cfg.hflip, "vflip": cfg.vflip, "max_rotation": cfg.max_rotation},
        "loss": "class-weighted cross-entropy", "device": device_name(device), "seconds": round(seconds, 1),
        "history": [[round(t, 6), round(v, 6)] for t, v in history],
    }
