"""`export` for the defect-type classifiers (model/kinds.py family "type-classifier"): the network wrapped with
the same input conversion as the scoring graph (uint8 RGB NHWC at the model's input size, normalisation
inside), one output "probabilities" [N, K]. Written only when ONNX Runtime reproduces the checkpoint's
probabilities within PROBABILITY_ATOL on a set of frames; metadata.json beside it keeps the class names.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import ModelMetadata
from ..model.preprocess import preprocess, to_input_images
from . import ExportError
from .checkpoint_parity import parity_frames
from .onnx_export import ExportResult, _check_request, export_versions, write_onnx
from .scoring_graph import INPUT_NAME, ScoringGraph

log = logging.getLogger(__name__)

OUTPUT_NAMES = ("probabilities",)
PROBABILITY_ATOL = 1e-4  # fp32 ONNX Runtime vs PyTorch: the same maths in another order of additions


class TypeGraph(ScoringGraph):
    """uint8 NHWC RGB -> class probabilities [N, K], normalised with the model's metadata."""

    def forward(self, image: Any) -> Any:  # type: ignore[override]
        x = image.permute(0, 3, 1, 2).float()
        return self.model((x - self.offset) * self.scale).float()


def export_type_classifier(model_dir: Path, out_dir: Path, *, dynamic_batch: bool = False, max_batch: int = 8,
                           opset: int = 18, overwrite: bool = False) -> ExportResult:
    """Export a defect-type classifier's model dir to out_dir/model.onnx + metadata.json, checked (onnx.checker,
    TensorRT-friendly ops, input and output shapes) and compared with the checkpoint under ONNX Runtime."""
    from ..model.checkpoint import load_model

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _check_request(model_dir, out_dir, overwrite, opset, dynamic_batch, max_batch)
    model, meta = load_model(model_dir, "cpu")

    def parity_of(onnx: Path) -> dict[str, float]:
        parity = compare_probabilities(onnx, model, meta, parity_frames(meta, n=6))
        if parity["max_score_abs_diff"] > PROBABILITY_ATOL:
            raise ExportError(f"{out_dir}: ONNX Runtime's probabilities differ from PyTorch's by "
                              f"{parity['max_score_abs_diff']:.2e} (allowed {PROBABILITY_ATOL})")
        return parity

    onnx_path, checks, parity, info = write_onnx(
        TypeGraph(model, meta).eval(), meta, model_dir, out_dir, input_name=INPUT_NAME, output_names=OUTPUT_NAMES,
        parity_of=parity_of, dynamic_batch=dynamic_batch, max_batch=max_batch, opset=opset)
    out_meta = replace(meta, export=info, versions={**meta.versions, **export_versions()})
    out_meta.save(out_dir)
    log.info("exported %s -> %s (probabilities within %.2e of PyTorch)", model_dir, onnx_path,
             parity["max_score_abs_diff"])
    return ExportResult(out_dir, onnx_path, out_meta, checks, parity)


def compare_probabilities(onnx_path: Path, model: Any, meta: ModelMetadata,
                          frames: list[np.ndarray]) -> dict[str, float]:
    """The largest difference between ONNX Runtime's (CPU) and the PyTorch model's class probabilities, one frame
    at a time, in the keys `export` prints (a probability is this model's score)."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for frame in frames:
        (got,) = session.run(None, {INPUT_NAME: to_input_images([frame], meta)})
        with torch.no_grad():
            ref = model(torch.from_numpy(preprocess([frame], meta))).numpy()
        worst = max(worst, float(np.abs(got - ref).max()))
    return {"frames": float(len(frames)), "max_score_abs_diff": worst, "max_score_rel_diff": worst}
