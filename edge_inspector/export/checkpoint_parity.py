"""Does an exported graph score like the checkpoint? Frames, and the comparison export runs before writing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import ModelMetadata
from ..model.preprocess import preprocess, to_input_images


def parity_frames(meta: ModelMetadata, n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Synthetic parts (with and without defects) and noise, at the input size and at larger, non-square
    camera-like sizes, so the resize path is exercised too."""
    from ..synth import CATEGORIES, DEFECT_TYPES, render_sample

    rng = np.random.default_rng(seed)
    h, w = meta.input_size
    frames: list[np.ndarray] = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        defect = DEFECT_TYPES[i % len(DEFECT_TYPES)] if i % 2 else None
        side = max(h, w) * (1 + i % 3)
        image = render_sample(category, rng, size=side, defect_type=defect).image
        frames.append(image if i % 3 != 2 else np.ascontiguousarray(image[: side * 3 // 4]))
    frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return frames


def compare_with_torch(onnx_path: Path, model: Any, meta: ModelMetadata, frames: list[np.ndarray],
                       batch: int = 1) -> dict[str, float]:
    """Max score and map differences between ONNX Runtime (CPU, all optimisations) and the PyTorch model
    fed the way TorchBackend feeds it."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    score_abs = score_rel = map_abs = 0.0
    for i in range(0, len(frames), batch):
        chunk = frames[i:i + batch]
        onnx_map, onnx_score = session.run(None, {"image": to_input_images(chunk, meta)})
        with torch.no_grad():
            ref_map, ref_score = model(torch.from_numpy(preprocess(chunk, meta)))
        ref_s, ref_m = ref_score.numpy(), ref_map.numpy()
        diff = np.abs(onnx_score - ref_s)
        score_abs = max(score_abs, float(diff.max()))
        score_rel = max(score_rel, float((diff / np.maximum(np.abs(ref_s), 1e-6)).max()))
        map_abs = max(map_abs, float(np.abs(onnx_map - ref_m).max()))
    return {"frames": float(len(frames)), "max_score_abs_diff": score_abs, "max_score_rel_diff": score_rel,
            "max_map_abs_diff": map_abs}
