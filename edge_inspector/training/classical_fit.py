"""Training for the classical baselines (kinds ocsvm, iforest, lof): features of the good images through the
model's own Embedding (model/classical_features.py), a scikit-learn fit on the training split
(training/classical_sklearn.py), its parameters copied into the torch scorer and checked against scikit-learn's own
scores, then the threshold from the validation split through the same backend loop as every other kind.

Defaults, and why: ocsvm on 32x32 grey pixels (the classic baseline, needs no weights); iforest and lof on pooled
ResNet-50 features (stage --encoder-layers, default 3), with ImageNet weights where they are on disk (the
torchvision cache or --backbone-weights) and otherwise random ones with a warning (a pipeline check); the arch's
"features": "pixels" works for all three (cheap and meaningful without ImageNet weights). Fitting takes seconds:
the feature pass over the images is most of it.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluation.progress import ProgressBar
from ..model.backbone import find_cached_weights, load_backbone_weights
from ..model.checkpoint import save_model, weights_digest
from ..model.classical_features import FEATURES, PIXEL_GRID, Embedding, describe
from ..model.metadata import ModelMetadata
from ..model.networks import build_model
from ..model.preprocess import normalise
from .classical_sklearn import FITTERS, ClassicalFitError, Fitted, fill, require_sklearn
from .data import is_grayscale
from .run_data import RunData, load_run_data
from .run_record import train_record, versions
from .train_config import TrainConfig, TrainResult
from .validation_scores import calibrate_on_validation

log = logging.getLogger(__name__)

DEFAULT_FEATURES = {"ocsvm": "pixels", "iforest": "resnet", "lof": "resnet"}
MAX_FIT = 2000  # training points a fit sees at most (a seeded subset): bounds LOF's and the SVM's buffers
PARITY_RTOL = 1e-4  # the torch scorer vs scikit-learn's own score on the same features
BATCH = 16


@dataclass(frozen=True)
class ClassicalTrainResult(TrainResult):
    """TrainResult with a summary that speaks of a fit, not of epochs and losses."""

    def summary(self) -> str:
        m = self.metadata
        s, fit = m.score_stats, m.train.get("fit", {})
        return "\n".join([
            f"fitted {m.kind} model {m.model_id} on {m.train.get('n_train')} good images "
            f"({fit.get('features')}) in {self.seconds:.1f} s on {m.train.get('device')}",
            f"  torch scorer vs scikit-learn: max score diff {fit.get('sklearn_max_abs_diff', float('nan')):.1e}",
            f"  good validation scores: median {s.get('p50', 0):.4f}, max {s.get('max', 0):.4f} (n={s.get('n')})",
            f"  threshold {m.image_threshold:.4f} (image-level: no map), policy: "
            f"{m.calibration.get('policy')} target {m.calibration.get('frr_target')}",
            f"  saved to {self.model_dir}",
        ])


def classical_arch(cfg: TrainConfig) -> dict[str, Any]:
    """The arch a run starts from: which features (a `features` attribute on cfg wins over the kind's default)
    and, for ResNet features, the stage and whether ImageNet weights will be loaded."""
    features = getattr(cfg, "features", None) or DEFAULT_FEATURES[cfg.kind]
    if features not in FEATURES:
        raise ClassicalFitError(f"features: expected one of {', '.join(FEATURES)}, got {str(features)[:40]!r}")
    if features == "pixels":
        return {"features": "pixels", "grid": PIXEL_GRID}
    imagenet = not cfg.random_backbone and (cfg.backbone_weights is not None or find_cached_weights() is not None)
    return {"features": features, "layers": cfg.encoder_layers, "weights": "imagenet" if imagenet else "random init"}


def train_classical(data_dir: Path, out_dir: Path, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Fit cfg's classical kind on the good images of `data_dir`, calibrate, save model.pt + metadata.json."""
    if cfg.tiles:
        raise ClassicalFitError(f"--tiles: {cfg.kind} scores whole images (no map to stitch); train it without tiles")
    if cfg.part_mask is not None or cfg.auto_mask:
        raise ClassicalFitError(f"--ignore-mask/--auto-mask: {cfg.kind} scores whole images (no map to mask); "
                                "crop to the part with --roi instead")
    sklearn_version = require_sklearn()
    t0 = time.monotonic()
    torch.manual_seed(cfg.seed)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    size = (cfg.input_size, cfg.input_size)

    def say(text: str) -> None:
        if progress:
            print(f"train {cfg.kind}: {text}", file=sys.stderr, flush=True)
        else:
            log.info("train %s: %s", cfg.kind, text)

    try:
        data = load_run_data(data_dir, cfg)
    except ValueError as exc:
        text = str(exc).splitlines()[0][:300]
        raise ClassicalFitError(text if str(data_dir) in text else f"{data_dir}: {text}") from None
    arch = classical_arch(cfg)
    embedding, backbone = _embedding(size, arch, cfg)
    meta = ModelMetadata(model_id="", kind=cfg.kind, input_size=size, arch=arch, roi=cfg.roi)
    say(f"features: {describe(arch)} of {len(data.images)} good images ({len(data.train_idx)} fit, "
        f"{len(data.val_idx)} validation) at {cfg.input_size}x{cfg.input_size} on {device}")
    bar = ProgressBar(f"train {cfg.kind}: features") if progress else None
    z = standardised_features(embedding.to(device), data, meta, device, bar)
    t_fit = time.monotonic()
    model, fitted, fit_rows = fit_model(cfg.kind, size, arch, embedding, z[data.train_idx], cfg.seed)
    fit_s = time.monotonic() - t_fit
    model = model.to(device)
    diff = sklearn_parity(model, fitted, z, device)
    say(f"fitted scikit-learn's {fitted.name} on {fit_rows} images in {fit_s:.2f} s; the torch scorer matches it "
        f"within {diff:.1e} on all {len(z)} images")
    seconds = time.monotonic() - t0
    meta.arch = {**arch, **fitted.arch}
    meta.model_id = f"{cfg.kind}-{weights_digest(model)}"
    meta.train = _record(cfg, data_dir, data, seconds, device, backbone, (fit_rows, fit_s, diff), arch)
    meta.train["fit"]["scikit_learn"] = sklearn_version
    meta.versions = {**versions(), "scikit_learn": sklearn_version}
    cal = calibrate_on_validation(model, meta, data, cfg, device, out_dir)
    meta.image_threshold, meta.pixel_threshold = cal["image_threshold"], cal["pixel_threshold"]
    meta.score_stats, meta.calibration = cal["score_stats"], cal["calibration"]
    say(f"calibrated on {cal['score_stats']['n']} good validation images: threshold {meta.image_threshold:.4f}")
    save_model(model.cpu(), meta, out_dir)
    return ClassicalTrainResult(out_dir, meta, 0, time.monotonic() - t0, float("nan"), [])


def fit_model(kind: str, size: tuple[int, int], arch: dict[str, Any], embedding: Embedding, z_fit: np.ndarray,
              seed: int) -> tuple[torch.nn.Module, Fitted, int]:
    """scikit-learn's fit on standardised features z_fit [N, D] (a seeded subset of MAX_FIT rows at most), copied
    into a fresh model of `kind` that takes over `embedding`'s weights and statistics; (model in eval mode on the
    CPU, the fit, rows fitted)."""
    if len(z_fit) < 2:
        raise ClassicalFitError(f"{kind}: need at least 2 training images to fit, got {len(z_fit)}")
    if len(z_fit) > MAX_FIT:
        z_fit = z_fit[np.sort(np.random.default_rng(seed).choice(len(z_fit), MAX_FIT, replace=False))]
    fitted = FITTERS[kind](z_fit, seed)
    model = build_model(kind, size, {**arch, **fitted.arch})
    model.embedding.load_state_dict(embedding.cpu().state_dict())  # type: ignore[union-attr, operator]
    fill(model.scorer, fitted.buffers)
    return model.eval(), fitted, len(z_fit)


def standardised_features(embedding: Embedding, data: RunData, meta: ModelMetadata, device: str,
                          bar: ProgressBar | None = None) -> np.ndarray:
    """Set the embedding's mean/std from the training split's raw features; every image's standardised features
    [N, D] (float32), standardised by the embedding itself, as the exported graph does (one feature pass)."""
    embedding.eval()
    raw = _batches(embedding.raw, data.images, meta, device, bar)
    train = raw[data.train_idx].astype(np.float64)
    std = train.std(axis=0)
    # A feature that barely varies on good parts (a pixel that is always black, a dead ResNet channel) would,
    # divided by its own tiny spread, outweigh all others: its spread is raised to a tenth of the typical one.
    std = np.maximum(std, max(0.1 * float(std.mean()), 1e-6))
    with torch.no_grad():
        embedding.feat_mean.copy_(torch.from_numpy(train.mean(axis=0)).float())
        embedding.feat_std.copy_(torch.from_numpy(std).float())
        z: np.ndarray = embedding.standardise(torch.from_numpy(raw).to(device)).cpu().numpy()
    return z


def sklearn_parity(model: torch.nn.Module, fitted: Fitted, z: np.ndarray, device: str) -> float:
    """Max |torch scorer - scikit-learn| over features z; ClassicalFitError beyond PARITY_RTOL (relative)."""
    with torch.no_grad():
        ours = model.scorer(torch.from_numpy(z).to(device)).cpu().numpy()  # type: ignore[operator]
    ref = fitted.reference(z)
    diff = np.abs(ours.astype(np.float64) - ref)
    worst = float(diff.max())
    if not np.all(np.isfinite(ours)) or float((diff / np.maximum(np.abs(ref), 1.0)).max()) > PARITY_RTOL:
        raise ClassicalFitError(f"the torch scorer differs from scikit-learn's {fitted.name} by {worst:.2e} "
                                f"(allowed {PARITY_RTOL} relative): not saved")
    return worst


def _batches(fn: Any, images: np.ndarray, meta: ModelMetadata, device: str, bar: ProgressBar | None) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            x = torch.from_numpy(normalise(images[i:i + BATCH], meta)).to(device)
            out.append(fn(x).float().cpu().numpy())
            if bar is not None:
                bar.update(min(i + BATCH, len(images)), len(images))
    if bar is not None:
        bar.close()
    return np.concatenate(out).astype(np.float32)


def _embedding(size: tuple[int, int], arch: dict[str, Any], cfg: TrainConfig) -> tuple[Embedding, str]:
    """The embedding, with ImageNet weights when the arch says so; where its weights came from."""
    embedding = Embedding(size, arch)
    if arch["features"] != "resnet":
        return embedding, "none (pixels)"
    if arch["weights"] == "imagenet":
        return embedding, str(load_backbone_weights(embedding.features.encoder, cfg.backbone_weights))  # type: ignore[union-attr, arg-type]
    log.warning("%s on features of a RANDOM ResNet-50 (no ImageNet weights found; --backbone-weights FILE or the "
                "torchvision cache): a pipeline check, far weaker than with ImageNet weights", cfg.kind)
    return embedding, "random init"


def _record(cfg: TrainConfig, data_dir: Path, data: RunData, seconds: float, device: str, backbone: str,
            fit: tuple[int, float, float], arch: dict[str, Any]) -> dict[str, Any]:
    """The metadata's train record: the common fields, without the epoch loop's, plus what was fitted."""
    rec = train_record(cfg, data_dir, data, 0, seconds, device, backbone, None, is_grayscale(data.images), 0.0, [])
    for key in ("epochs", "lr", "batch_size", "lr_schedule", "best_val_loss", "final_train_loss", "final_val_loss"):
        rec[key] = None
    rows, fit_s, diff = fit
    rec["fit"] = {"features": describe(arch), "rows": rows, "seconds": round(fit_s, 3), "sklearn_max_abs_diff": diff}
    return rec
