"""ONNX Runtime backend: the torch-free runtime for an exported model directory (model.onnx + metadata.json).

The graph holds the whole scoring step, so this module only resizes frames (the same OpenCV code as
every backend), feeds uint8 RGB and maps the result back to frame size. CUDA provider when asked for
and available, else CPU with every graph optimisation and the configured thread count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..model.metadata import MetadataError, ModelMetadata
from ..model.preprocess import to_input_images
from .base import Backend, BackendError, BackendOptions

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"


def _providers(device: str) -> list[str | tuple[str, dict[str, str]]]:
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        if device == "auto":
            return ["CPUExecutionProvider"]
        raise BackendError(f"backend onnxruntime on {device}: this onnxruntime has no CUDA provider "
                           f"(has {', '.join(available)}; pip install onnxruntime-gpu)")
    index = device.split(":", 1)[1] if ":" in device else "0"
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    """Scores frames with an exported graph; batches up to the graph's batch limit."""

    name = "onnxruntime"

    def __init__(self, model_dir: Path, device: str = "auto", options: BackendOptions | None = None) -> None:
        options = options or BackendOptions()
        model_dir = Path(model_dir)
        try:
            self.metadata = ModelMetadata.load(model_dir)
        except MetadataError as exc:
            raise BackendError(str(exc)) from None
        export = self.metadata.export
        path = model_dir / ONNX_FILE
        if not path.is_file():
            raise BackendError(f"{path}: not found (make one with `edge-inspector export --model MODEL_DIR "
                               f"--out {model_dir}`)")
        if export.get("format") != "onnx" or export.get("input", {}).get("dtype") != "uint8":
            raise BackendError(f"{model_dir / 'metadata.json'}: export: not written by `edge-inspector export` "
                               "(re-export the model)")
        precision = str(export.get("precision", "fp32"))
        if options.precision not in ("auto", precision):
            raise BackendError(f"{path}: exported as {precision}, config asks for {options.precision} "
                               f"(export again with --precision {options.precision})")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if options.threads > 0:
            so.intra_op_num_threads = options.threads
        try:
            self.session: ort.InferenceSession | None = ort.InferenceSession(
                str(path), so, providers=_providers(device))
        except (RuntimeError, ort.capi.onnxruntime_pybind11_state.Fail) as exc:  # type: ignore[attr-defined]
            raise BackendError(f"{path}: ONNX Runtime cannot load it: {str(exc).splitlines()[0]}") from None
        used = self.session.get_providers()[0]
        self.device = "cuda" if used == "CUDAExecutionProvider" else "cpu"
        dynamic = export.get("batch") == "dynamic"
        self.max_batch = min(options.max_batch, int(export.get("max_batch", 1))) if dynamic else 1
        self.input_name = str(export["input"]["name"])
        self.name = f"onnxruntime:{self.device}:{precision}"
        log.info("loaded %s (%s, %s) with %s", self.metadata.model_id, self.metadata.kind, path, used)

    def is_open(self) -> bool:
        return self.session is not None

    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """At most max_batch frames through the exported graph; maps at the model's input size."""
        assert self.session is not None
        maps, scores = self.session.run(None, {self.input_name: to_input_images(chunk, self.metadata)})
        return maps[:, 0], scores

    def close(self) -> None:
        """Drop the session (and its device memory)."""
        self.session = None
