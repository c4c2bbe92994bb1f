"""Where a supervised network's weights start: a trained autoencoder's encoder (`train --init-encoder MODEL_DIR`),
ImageNet weights for a ResNet-50 trunk where they exist on disk (transfer learning: the last stage and the head
train), or random init with every layer trainable. The answer is logged and recorded in the metadata."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..model.backbone import load_backbone_weights, pretrained_weights_available
from ..model.metadata import WEIGHTS_FILE, ModelMetadata
from .supervised_data import SupervisedDataError
from .train_config import TrainConfig

log = logging.getLogger(__name__)

PREFIX = "encoder."


def initialise(model: nn.Module, cfg: TrainConfig) -> str:
    """Seed `model` as cfg says and return, in words, where its weights came from."""
    if cfg.init_encoder is not None:
        source = copy_encoder(model, Path(cfg.init_encoder))
    elif getattr(model, "resnet_trunk", False) and pretrained_weights_available(cfg.backbone_weights):
        path = load_backbone_weights(model.encoder, cfg.backbone_weights)  # type: ignore[arg-type]
        model.set_trainable("layer4")  # type: ignore[operator]
        source = f"ImageNet weights {path}; trainable: the last stage and the head"
    else:
        source = "random init; every layer trainable"
    log.info("%s starts from: %s", cfg.kind, source)
    return source


def copy_encoder(model: nn.Module, model_dir: Path) -> str:
    """Copy the `encoder.*` tensors of the model saved in `model_dir` (a scratch or pixel autoencoder, say) that
    `model` has with the same shape; SupervisedDataError, one line, when none fits."""
    meta = ModelMetadata.load(model_dir)  # a MetadataError (one line) for anything but a model dir
    path = model_dir / WEIGHTS_FILE
    if not path.is_file():
        raise SupervisedDataError(f"--init-encoder {model_dir}: no {WEIGHTS_FILE} (a model dir written by `train`)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    wanted = [k for k in target if k.startswith(PREFIX)]
    fits = {k: v for k, v in state.items()
            if k.startswith(PREFIX) and k in target and tuple(target[k].shape) == tuple(v.shape)}
    if not fits:
        raise SupervisedDataError(f"--init-encoder {model_dir}: none of its {PREFIX}* tensors fits this network "
                                  f"({meta.kind} model, arch {meta.arch})")
    model.load_state_dict(fits, strict=False)
    return (f"encoder of {meta.kind} model {meta.model_id} ({model_dir}): {len(fits)} of {len(wanted)} encoder "
            "tensors copied; every layer trainable")
