"""ImageNet ResNet-50 weights, loaded the normal way: a file path or torchvision's cache. Never downloaded
at run time (plants are often air-gapped); a clear message says how to provide them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# torchvision's file names for ResNet-50 ImageNet weights (V2 first: better accuracy).
KNOWN_FILES = ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth")


class BackboneWeightsMissing(FileNotFoundError):
    """No ImageNet ResNet-50 weights were found."""


def torchvision_cache_dir() -> Path:
    """Where torchvision keeps downloaded weights: torch.hub.get_dir()/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_cached_weights() -> Path | None:
    """The first torchvision-cached ResNet-50 weights file, or None."""
    for name in KNOWN_FILES:
        path = torchvision_cache_dir() / name
        if path.is_file():
            return path
    return None


def pretrained_weights_available(path: Path | None = None) -> bool:
    """True when `path` exists or torchvision's cache holds ResNet-50 ImageNet weights (nothing is downloaded)."""
    return (path is not None and path.is_file()) or find_cached_weights() is not None


def load_backbone_weights(encoder: nn.Module, path: Path | None = None) -> Path:
    """Load ResNet-50 ImageNet weights into an encoder (ResNet50Encoder); returns the file used."""
    source = path if path is not None else find_cached_weights()
    if source is None or not Path(source).is_file():
        where = f"{path} does not exist" if path is not None else f"none in {torchvision_cache_dir()}"
        raise BackboneWeightsMissing(
            f"ResNet-50 ImageNet weights not found ({where}): copy {KNOWN_FILES[0]} (torchvision "
            f"ResNet50_Weights.IMAGENET1K_V2) there or set model.backbone_weights / --backbone-weights, "
            "or train the scratch autoencoder (--model scratch), which needs none")
    state = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{source}: expected a state dict, got {type(state).__name__}")
    mapping = {"conv1.": "stem.0.", "bn1.": "stem.1."}
    mapping.update({f"layer{i}.": f"stages.{i - 1}." for i in range(1, 5)})
    target = encoder.state_dict()
    renamed = {}
    for key, value in state.items():
        for old, new in mapping.items():
            if key.startswith(old):
                new_key = new + key[len(old):]
                if new_key in target:
                    if target[new_key].shape != value.shape:
                        raise ValueError(f"{source}: {key} has shape {tuple(value.shape)}, expected "
                                         f"{tuple(target[new_key].shape)} (not ResNet-50 weights?)")
                    renamed[new_key] = value
    missing = sorted(set(target) - set(renamed))
    if missing:
        raise ValueError(f"{source}: no weights for {missing[0]} ({len(missing)} missing; not ResNet-50 weights?)")
    encoder.load_state_dict(renamed)
    return Path(source)
