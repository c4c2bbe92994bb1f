"""A tiny random-init model directory (model.pt + metadata.json) for unit tests; needs torch."""

from __future__ import annotations

from pathlib import Path

ARCH = {"encoder_layers": 2, "width": 32}


def make_model(root: Path, kind: str = "scratch", size: int = 64) -> Path:
    """A random-init model dir with distinctive thresholds and statistics to follow through export."""
    import torch

    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.metadata import ModelMetadata
    from edge_inspector.model.networks import build_model

    torch.manual_seed(0)
    model = build_model(kind, (size, size), ARCH)
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(size, size), arch=ARCH,
                         mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), image_threshold=0.4321,
                         pixel_threshold=0.3456, score_stats={"good_mean": 0.12, "good_std": 0.03})
    return save_model(model, meta, root / f"{kind}-model")
