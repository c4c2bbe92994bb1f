"""Shared by the vae / dense-ae / conv-ae unit tests: flat grey good parts, a short real training through the
kinds' registered objective, a defect that is a bright square, and an export compared with the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SQUARE = (slice(10, 18), slice(12, 20))  # rows, columns of the pasted defect in a 32 x 32 image


def normalise(pixels: Any) -> Any:
    """[B,3,H,W] pixels in 0..1 -> the network's input (ImageNet mean/std, as metadata's defaults)."""
    import torch

    return (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def flat_parts(n: int, gen: Any, size: int = 32) -> Any:
    """n flat grey parts (a random level in 0.3..0.7 each) with faint noise, normalised."""
    import torch

    level = torch.rand(n, 1, 1, 1, generator=gen) * 0.4 + 0.3
    noise = 0.02 * torch.randn(n, 1, size, size, generator=gen)
    return normalise((level + noise).expand(n, 3, size, size))


def clean_and_defect(size: int = 32) -> tuple[Any, Any]:
    """A flat mid-grey part, and the same part with a bright 8 x 8 square pasted at SQUARE."""
    import torch

    clean = torch.full((1, 3, size, size), 0.5)
    bad = clean.clone()
    bad[:, :, SQUARE[0], SQUARE[1]] = 0.95
    return normalise(clean), normalise(bad)


def train_on_flat(kind: str, arch: dict[str, Any], steps: int = 200, size: int = 32,
                  seed: int = 0) -> tuple[Any, list[float]]:
    """(the model in eval mode, the loss of every step) after `steps` Adam steps on batches of 16 flat parts,
    with the loss the kinds' registry names for `kind` (training/objective.compute_loss)."""
    import torch

    from edge_inspector.model.networks import build_model
    from edge_inspector.training.objective import compute_loss

    torch.manual_seed(seed)
    model = build_model(kind, (size, size), arch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        loss = compute_loss(model, kind, flat_parts(16, gen, size), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


def square_contrast(model: Any) -> tuple[float, float]:
    """How a trained model tells the bright square from the flat part: (its score over the clean part's, the
    mean of its map on the square over the map's maximum far from the square)."""
    import torch

    clean, bad = clean_and_defect()
    with torch.no_grad():
        _, clean_score = model(clean)
        bad_map, bad_score = model(bad)
    amap = bad_map[0, 0].numpy()
    return float(bad_score) / float(clean_score), float(amap[SQUARE].mean()) / float(far_from_square(amap).max())


def far_from_square(amap: np.ndarray, margin: int = 6) -> np.ndarray:
    """The map's pixels at least `margin` pixels away from SQUARE (the smoothing spreads the defect a little)."""
    keep = np.ones(amap.shape, bool)
    r, c = SQUARE
    keep[max(0, r.start - margin):r.stop + margin, max(0, c.start - margin):c.stop + margin] = False
    return amap[keep]


def save_tiny(root: Path, kind: str, arch: dict[str, Any], size: int = 64, seed: int = 0) -> Path:
    """A random-init model dir of `kind` with distinctive normalisation and thresholds."""
    import torch

    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.metadata import ModelMetadata
    from edge_inspector.model.networks import build_model

    torch.manual_seed(seed)
    model = build_model(kind, (size, size), arch)
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(size, size), arch=arch,
                         mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), image_threshold=0.4321, pixel_threshold=0.3456)
    return save_model(model, meta, root / f"{kind}-model")


def onnx_matches_torch(model_dir: Path, out: Path) -> list[tuple[float, float, float]]:
    """Export model_dir (dynamic batch up to 4), then score mixed-size frames through the ONNX Runtime backend
    and the torch backend; returns (onnx score, torch score, max map difference) per frame. Also checks that the
    graph uses only the ops export/onnx_checks.py allows."""
    from edge_inspector.backends import BackendOptions, create_backend
    from edge_inspector.export.checkpoint_parity import parity_frames
    from edge_inspector.export.onnx_checks import TRT_FRIENDLY_OPS
    from edge_inspector.export.onnx_export import export_onnx

    result = export_onnx(model_dir, out, dynamic_batch=True, max_batch=4)
    assert set(result.checks["ops"]) <= TRT_FRIENDLY_OPS, result.checks["ops"]
    ort_backend = create_backend("onnxruntime", result.out_dir, "cpu", BackendOptions(threads=1, max_batch=4))
    torch_backend = create_backend("torch", model_dir, "cpu")
    frames = parity_frames(ort_backend.metadata, n=5, seed=3)
    got, ref = ort_backend.infer(frames), torch_backend.infer(frames)
    assert len(got) == len(ref) == len(frames)
    rows = []
    for frame, a, b in zip(frames, got, ref):
        assert a.map.shape == b.map.shape == frame.shape[:2]
        rows.append((a.score, b.score, float(np.abs(a.map - b.map).max())))
    return rows
