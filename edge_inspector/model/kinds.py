"""The model kinds' registry: a kind's name picks its network builder, imported only when used, and says what its
scores mean to the line (a map to box defects or an image-level score only; trained on good parts only or on
labelled defects too). No torch import here: metadata.json is checked and the daemon judges verdicts without it.

How each kind trains (its loss, its loop, its defaults) is one floor up, in training/kind_training.py; a test
keeps the two tables' names equal. No code branches on a kind's name: it asks this table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A type classifier names the defect of a part another model failed (a second model, model.defect_types); it
# never judges parts itself, so the daemon, evaluate and calibrate refuse it as the inspection model.
FAMILIES = ("autoencoder", "classifier", "classical", "type-classifier")


@dataclass(frozen=True)
class ModelKind:
    """What a kind is: its network builder ("module:function" in this package's model wing, taking
    (input_size, arch) and returning a module whose eval forward gives (anomaly_map [B,1,H,W], score [B])),
    its family, whether its map locates defects, whether it trains on labelled defects, and the map's name."""

    name: str
    family: str
    summary: str
    network: str
    has_map: bool = True
    supervised: bool = False
    map_name: str = "anomaly heatmap"  # what the dashboard calls its map

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"kind {self.name}: family expected one of {', '.join(FAMILIES)}, got {self.family!r}")


_M = "edge_inspector.model."
REGISTRY: dict[str, ModelKind] = {k.name: k for k in (
    ModelKind("scratch", "autoencoder", "DRAEM-style ResNet-50 autoencoder + segmentation head, random init",
              _M + "networks:build_scratch"),
    ModelKind("pixel", "autoencoder", "ResNet-50 autoencoder, map = per-pixel L1 + (1 - SSIM)",
              _M + "networks:build_pixel"),
    ModelKind("feature", "autoencoder", "reverse-distillation over frozen ResNet-50 features (ImageNet weights)",
              _M + "networks:build_feature"),
    ModelKind("vae", "autoencoder", "convolutional variational autoencoder, map = reconstruction error",
              _M + "vae:build_vae"),
    ModelKind("dense-ae", "autoencoder", "small dense autoencoder on 128x128 grey images (the classic baseline)",
              _M + "small_autoencoders:build_dense_ae"),
    ModelKind("conv-ae", "autoencoder", "small convolutional autoencoder on 128x128 grey images",
              _M + "small_autoencoders:build_conv_ae"),
    ModelKind("classifier", "classifier", "supervised ResNet-50 good/defect classifier, map = Grad-CAM (CAM)",
              _M + "classifiers:build_resnet_classifier", supervised=True, map_name="Grad-CAM"),
    ModelKind("small-cnn", "classifier", "supervised 2-layer CNN trained from scratch, map = CAM",
              _M + "classifiers:build_small_cnn", supervised=True, map_name="Grad-CAM"),
    ModelKind("ocsvm", "classical", "one-class SVM (RBF) on downsampled grey pixels, image-level score",
              _M + "classical:build_ocsvm", has_map=False),
    ModelKind("iforest", "classical", "IsolationForest on pooled CNN features, image-level score",
              _M + "classical:build_iforest", has_map=False),
    ModelKind("lof", "classical", "LocalOutlierFactor (novelty) on pooled CNN features, image-level score",
              _M + "classical:build_lof", has_map=False),
    ModelKind("defect-types", "type-classifier", "which defect a failed part has (crack, scratch...), with a "
              "confidence, from labelled defect folders", _M + "defect_types:build_type_classifier", has_map=False,
              supervised=True, map_name=""),
)}
KINDS = tuple(REGISTRY)
# The kinds that judge parts (model.dir): every kind but the type classifiers.
INSPECTION_KINDS = tuple(k for k, v in REGISTRY.items() if v.family != "type-classifier")


class UnknownKind(ValueError):
    """The name is not a registered model kind; the message lists the known ones."""


def model_kind(name: str) -> ModelKind:
    """The registered kind `name`; UnknownKind (one line, the known names) otherwise."""
    kind = REGISTRY.get(name)
    if kind is None:
        raise UnknownKind(f"model kind: expected one of {', '.join(KINDS)}, got {name!r}")
    return kind


def network_builder(name: str) -> Callable[[tuple[int, int], dict[str, Any]], Any]:
    """The kind's network builder, its module imported now (torch with it)."""
    builder: Callable[[tuple[int, int], dict[str, Any]], Any] = import_target(model_kind(name).network)
    return builder


def import_target(target: str) -> Any:
    """The attribute a "package.module:attribute" entry names, its module imported now (ImportError, with
    exc.name the missing package, when it cannot be). The one lazy import of every registry in the package."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
