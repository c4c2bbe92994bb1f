"""PyTorch backend: the trained network in fp32 eager mode (the scoring graph is inside the model).

On a CUDA device the registry's `torch` entry (torch_open.py) hands over to the fast path in torch_cuda.py
(fp16, channels-last, CUDA graph) unless precision fp32 is asked for; this backend is then its fp32 reference.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ..model.checkpoint import load_model
from ..model.metadata import MetadataError, ModelMetadata
from ..model.preprocess import preprocess
from .base import Backend, BackendError, BackendOptions
from .devices import resolve_device

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    """Loads a model dir (model.pt + metadata.json) and scores frames in fp32, `max_batch` at a time."""

    name = "torch"

    def __init__(self, model_dir: Path, device: str = "auto", options: BackendOptions | None = None) -> None:
        options = _fp32_options(options, device)
        self.device = resolve_device(device)
        self.max_batch = options.max_batch
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        try:
            model, self.metadata = load_model(model_dir, self.device)
        except (MetadataError, FileNotFoundError, ValueError) as exc:
            raise BackendError(f"{model_dir}: {exc}" if str(model_dir) not in str(exc) else str(exc)) from None
        self.model: torch.nn.Module | None = model
        self.name = f"torch:{self.device}:fp32"
        log.info("loaded %s (%s) on %s", self.metadata.model_id, self.metadata.kind, self.device)

    @classmethod
    def from_module(cls, model: torch.nn.Module, metadata: ModelMetadata, device: str,
                    options: BackendOptions | None = None) -> TorchBackend:
        """A backend around a network already in memory on `device` (put in eval mode), with its metadata:
        training scores its validation images through the same infer loop as evaluate, calibrate and the
        daemon. close() lets go of the network; the caller still holds it."""
        options = _fp32_options(options, device)
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        backend = cls.__new__(cls)
        backend.device, backend.max_batch, backend.metadata = device, options.max_batch, metadata
        backend.model = model.eval()
        backend.name = f"torch:{device}:fp32"
        return backend

    def is_open(self) -> bool:
        return self.model is not None

    @torch.inference_mode()
    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """At most max_batch frames through the fp32 network; maps at the model's input size."""
        assert self.model is not None
        x = torch.from_numpy(preprocess(chunk, self.metadata)).to(self.device)
        amap, score = self.model(x)
        return amap[:, 0].float().cpu().numpy(), score.float().cpu().numpy()

    @torch.inference_mode()
    def reconstruct(self, image: np.ndarray) -> np.ndarray | None:
        """The autoencoder's reconstruction (scratch and pixel kinds; the feature kind reconstructs features)."""
        model = self.model
        if model is None:
            raise BackendError(f"backend {self.name} is closed")
        if hasattr(model, "reconstruct_and_segment"):
            def run(x: torch.Tensor) -> torch.Tensor:
                return model.reconstruct_and_segment(x)[0]  # type: ignore[no-any-return, operator]
        elif hasattr(model, "reconstruct"):
            def run(x: torch.Tensor) -> torch.Tensor:
                return model.reconstruct(x)  # type: ignore[no-any-return, operator]
        else:
            return None
        x = torch.from_numpy(preprocess([image], self.metadata)).to(self.device)
        recon = run(x)[0].float().cpu().numpy().transpose(1, 2, 0)
        meta = self.metadata
        rgb = recon * np.asarray(meta.std, np.float32) + np.asarray(meta.mean, np.float32)  # undo normalise()
        out: np.ndarray = cv2.cvtColor((rgb.clip(0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        return out

    def close(self) -> None:
        """Drop the network and return cached GPU memory."""
        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _fp32_options(options: BackendOptions | None, device: str) -> BackendOptions:
    """The options (defaults for None), refused in one line unless they ask for fp32 or auto."""
    options = options or BackendOptions()
    if options.precision not in ("auto", "fp32"):
        raise BackendError(f"backend torch on {device}: precision {options.precision!r} needs CUDA "
                           "(on a CPU use fp32, or onnxruntime with an int8 export)")
    return options
