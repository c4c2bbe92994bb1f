"""Model directory = model.pt (a plain state dict) + metadata.json. Loading never unpickles objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .metadata import WEIGHTS_FILE, MetadataError, ModelMetadata
from .networks import build_model


def weights_digest(model: nn.Module) -> str:
    """Short hash of the weights, used in the model id."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:8]


def save_model(model: nn.Module, meta: ModelMetadata, model_dir: Path) -> Path:
    """Write weights and metadata; returns the model dir."""
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, model_dir / WEIGHTS_FILE)
    meta.save(model_dir)
    return model_dir


def load_model(model_dir: Path, device: str = "cpu") -> tuple[nn.Module, ModelMetadata]:
    """Build the network from metadata and load its weights (weights_only=True), in eval mode."""
    model_dir = Path(model_dir)
    meta = ModelMetadata.load(model_dir)
    path = model_dir / WEIGHTS_FILE
    if not path.is_file():
        raise MetadataError(f"{path}: weights file not found")
    state = torch.load(path, map_location=device, weights_only=True)
    model = build_model(meta.kind, meta.input_size, meta.arch)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise MetadataError(f"{path}: weights do not match metadata.json arch: {first}") from None
    return model.to(device).eval(), meta
