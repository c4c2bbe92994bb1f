"""The runtime of a defect-type classifier (model.defect_types): names the defect of a frame another model
failed, with a confidence. ONNX Runtime runs the exported graph (model.onnx, `edge-inspector export`) without
torch; a model dir written by `train` (model.pt only) runs on torch. Frames are converted by the same code as
every backend's (model/preprocess.py), so the classifier sees what it was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model.defect_type_names import type_classifier_classes
from ..model.metadata import WEIGHTS_FILE, MetadataError
from ..model.preprocess import preprocess, to_input_images
from .base import BackendError

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"


class DefectTyper:
    """classify(frames) -> [(type name, probability)] for BGR uint8 frames of any size."""

    def __init__(self, model_dir: Path, device: str = "cpu", threads: int = 0) -> None:
        model_dir = Path(model_dir)
        try:
            self.metadata, self.classes = type_classifier_classes(model_dir)
        except MetadataError as exc:
            raise BackendError(f"model.defect_types: {exc}") from None
        self.model_dir = model_dir
        self._session: Any = None
        self._model: Any = None
        self.max_batch = 1
        if (model_dir / ONNX_FILE).is_file():
            self._open_onnx(model_dir / ONNX_FILE, device, threads)
        elif (model_dir / WEIGHTS_FILE).is_file():
            self._open_torch(model_dir, device)
        else:
            raise BackendError(f"model.defect_types: {model_dir}: neither {ONNX_FILE} nor {WEIGHTS_FILE} found")
        log.info("defect types: %s (%d types: %s) on %s", self.metadata.model_id, len(self.classes),
                 ", ".join(self.classes), self.runtime)

    def _open_onnx(self, path: Path, device: str, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError(f"model.defect_types: {path} needs onnxruntime (pip install edge-inspector[onnx])")\
                from None
        export = self.metadata.export
        outputs = export.get("outputs", {})
        if export.get("format") != "onnx" or list(outputs) != ["probabilities"]:
            raise BackendError(f"model.defect_types: {path.parent}/metadata.json: export: not a defect-type "
                               "classifier written by `edge-inspector export` (export it again)")
        so = ort.SessionOptions()
        if threads > 0:
            so.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's load errors have no common base
            raise BackendError(f"model.defect_types: {path}: ONNX Runtime cannot load it: "
                               f"{str(exc).splitlines()[0][:200]}") from None
        self._input = str(export.get("input", {}).get("name", "image"))
        self.max_batch = int(export.get("max_batch", 1)) if export.get("batch") == "dynamic" else 1
        self.runtime = f"onnxruntime:{self._session.get_providers()[0]}"

    def _open_torch(self, model_dir: Path, device: str) -> None:
        try:
            from ..model.checkpoint import load_model
            from .devices import resolve_device
        except ImportError as exc:
            raise BackendError(f"model.defect_types: {model_dir} has no {ONNX_FILE} and torch is not installed "
                               f"({exc.name}); export it with `edge-inspector export`") from None
        self._device = resolve_device(device)
        self._model, _ = load_model(model_dir, self._device)
        self.runtime = f"torch:{self._device}"
        self.max_batch = 8

    def probabilities(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [N, K] class probabilities of BGR uint8 frames."""
        out = []
        for i in range(0, len(frames), self.max_batch):
            chunk = frames[i:i + self.max_batch]
            if self._session is not None:
                out.append(self._session.run(None, {self._input: to_input_images(chunk, self.metadata)})[0])
            else:
                import torch

                with torch.no_grad():
                    x = torch.from_numpy(preprocess(chunk, self.metadata)).to(self._device)
                    out.append(self._model(x).float().cpu().numpy())
        probs = np.concatenate(out).astype(np.float32)
        if probs.shape != (len(frames), len(self.classes)):
            raise ValueError(f"defect types: expected probabilities of shape {(len(frames), len(self.classes))}, "
                             f"got {probs.shape}")
        return probs

    def classify(self, frames: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """The most probable defect type of each frame and its probability; ValueError for non-finite output."""
        if not frames:
            return []
        probs = self.probabilities(frames)
        if not np.isfinite(probs).all():
            raise ValueError("defect types: the classifier returned non-finite probabilities")
        best = probs.argmax(axis=1)
        return [(self.classes[int(c)], float(probs[i, c])) for i, c in enumerate(best)]

    def close(self) -> None:
        """Drop the session or network."""
        self._session = self._model = None
