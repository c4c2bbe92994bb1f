"""PyTorch backend: the trained network on CPU or CUDA (fp32; the scoring graph is inside the model)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..model.checkpoint import load_model
from ..model.metadata import MetadataError
from ..model.preprocess import map_to_frame, preprocess
from ..types import AnomalyMap
from .base import Backend, BackendError

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """auto -> cuda when available, else cpu; an unavailable cuda request is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"model.device {device!r}: CUDA is not available on this machine")
    return device


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model_dir: Path, device: str = "auto") -> None:
        self.device = resolve_device(device)
        try:
            self.model, self.metadata = load_model(model_dir, self.device)
        except (MetadataError, FileNotFoundError) as exc:
            raise BackendError(str(exc)) from None
        self.name = f"torch:{self.device}"

    @torch.inference_mode()
    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        x = torch.from_numpy(preprocess(images, self.metadata)).to(self.device)
        amap, score = self.model(x)
        maps = amap[:, 0].float().cpu().numpy()
        scores = score.float().cpu().numpy()
        return [AnomalyMap(map_to_frame(m, img.shape, self.metadata), float(s))
                for m, s, img in zip(maps, scores, images)]
