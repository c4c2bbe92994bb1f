"""How each model kind trains: the training loop that fits it, its loss (kinds trained by epochs), the network's
arch from the run's flags, and its defaults. The kinds themselves are in model/kinds.py; a test keeps the two
tables' names equal, and `train --kind` offers exactly these.

Entries name "module:function", imported only when that kind trains (the classical kinds need scikit-learn,
the others do not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model.kinds import import_target, model_kind

_T = "edge_inspector.training."


@dataclass(frozen=True)
class KindTraining:
    """trainer(data_dir, out_dir, cfg, progress) -> TrainResult; objective(model, x, gen, amp_dtype, gray_stats,
    part) -> loss for the epoch loop's kinds (None for kinds fitted otherwise); arch(cfg) -> the metadata arch."""

    trainer: str
    objective: str | None
    arch: str
    lr: float
    epochs: int
    batch_size: int


_EPOCHS = _T + "loop:train"
_STANDARD_ARCH = _T + "kind_training:encoder_arch"
TRAINING: dict[str, KindTraining] = {
    "scratch": KindTraining(_EPOCHS, _T + "objective:scratch_loss", _STANDARD_ARCH, 3e-4, 200, 8),
    "pixel": KindTraining(_EPOCHS, _T + "objective:pixel_loss", _STANDARD_ARCH, 3e-4, 200, 8),
    # The feature AE only trains its decoder, twice as wide as the others'.
    "feature": KindTraining(_EPOCHS, _T + "objective:feature_loss", _T + "kind_training:feature_arch", 5e-4, 100,
                            16),
    "vae": KindTraining(_EPOCHS, _T + "vae_objective:vae_loss", _T + "vae_objective:vae_arch", 1e-3, 200, 16),
    "dense-ae": KindTraining(_EPOCHS, _T + "small_ae_objective:small_ae_loss",
                             _T + "small_ae_objective:dense_ae_arch", 1e-3, 200, 16),
    "conv-ae": KindTraining(_EPOCHS, _T + "small_ae_objective:small_ae_loss",
                            _T + "small_ae_objective:conv_ae_arch", 1e-3, 200, 16),
    "classifier": KindTraining(_T + "supervised:train_supervised", None, _T + "supervised:classifier_arch",
                               1e-3, 60, 16),
    "small-cnn": KindTraining(_T + "supervised:train_supervised", None, _T + "supervised:classifier_arch",
                              1e-3, 60, 16),
    "ocsvm": KindTraining(_T + "classical_fit:train_classical", None, _T + "classical_fit:classical_arch", 0.0, 1,
                          1),
    "iforest": KindTraining(_T + "classical_fit:train_classical", None, _T + "classical_fit:classical_arch", 0.0,
                            1, 1),
    "lof": KindTraining(_T + "classical_fit:train_classical", None, _T + "classical_fit:classical_arch", 0.0, 1, 1),
    "defect-types": KindTraining(_T + "defect_types_fit:train_defect_types", None,
                                 _T + "defect_types_fit:type_classifier_arch", 1e-3, 60, 16),
}
TRAINABLE = tuple(TRAINING)


def kind_training(name: str) -> KindTraining:
    """How the kind `name` trains; ValueError (one line, the known kinds) for a name no table knows."""
    model_kind(name)  # the model table's error for an unknown name
    entry = TRAINING.get(name)
    if entry is None:
        raise ValueError(f"model kind {name!r} has no training entry (trainable: {', '.join(TRAINABLE)})")
    return entry


def resolve(target: str) -> Callable[..., Any]:
    """The function a "module:function" entry names, its module imported now."""
    fn: Callable[..., Any] = import_target(target)
    return fn


def encoder_arch(cfg: Any) -> dict[str, Any]:
    """The ResNet-50 autoencoders' arch: encoder stages and decoder width."""
    return {"encoder_layers": cfg.encoder_layers, "width": cfg.width}


def feature_arch(cfg: Any) -> dict[str, Any]:
    """The feature autoencoder's arch: its decoder is twice the flag's width."""
    return {"encoder_layers": cfg.encoder_layers, "width": 2 * cfg.width}
