"""`export` for the defect-type classifiers (model/kinds.py family "type-classifier"): the network wrapped with
the same input conversion as the scoring graph (uint8 RGB NHWC at the model's input size, normalisation
inside), one output "probabilities" [N, K]. Written only when ONNX Runtime reproduces the checkpoint's
probabilities within PROBABILITY_ATOL on a set of frames; metadata.json beside it keeps the class names.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import WEIGHTS_FILE, ModelMetadata
from ..model.preprocess import preprocess, to_input_images
from . import ExportError
from .checkpoint_parity import parity_frames
from .onnx_checks import check_onnx
from .onnx_export import ONNX_FILE, ExportResult, _check_out_dir, export_versions, file_sha256
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
    import torch

    from ..model.checkpoint import load_model

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if opset < 18:
        raise ExportError(f"--opset {opset}: the exporter writes opset 18 or newer")
    if dynamic_batch and max_batch < 2:
        raise ExportError(f"--max-batch {max_batch}: a dynamic batch needs a maximum of 2 or more")
    _check_out_dir(model_dir, out_dir, overwrite)
    model, meta = load_model(model_dir, "cpu")
    graph = TypeGraph(model, meta).eval()
    h, w = meta.input_size
    example = torch.zeros((2 if dynamic_batch else 1, h, w, 3), dtype=torch.uint8)
    dynamic = {"image": {0: torch.export.Dim("batch", min=1, max=max_batch)}} if dynamic_batch else None
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    tmp = out_dir / f".{ONNX_FILE}.{os.getpid()}.tmp"
    try:
        with redirect_stdout(io.StringIO()), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(graph, (example,), str(tmp), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              opset_version=opset, dynamo=True, dynamic_shapes=dynamic, external_data=False,
                              verbose=False)
        batch: int | str = "batch" if dynamic_batch else 1
        checks = check_onnx(tmp, input_name=INPUT_NAME, input_shape=[batch, h, w, 3], output_names=OUTPUT_NAMES)
        parity = compare_probabilities(tmp, model, meta, parity_frames(meta, n=6))
        if parity["max_score_abs_diff"] > PROBABILITY_ATOL:
            raise ExportError(f"{out_dir}: ONNX Runtime's probabilities differ from PyTorch's by "
                              f"{parity['max_score_abs_diff']:.2e} (allowed {PROBABILITY_ATOL})")
        tmp.replace(out_dir / ONNX_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    onnx_path = out_dir / ONNX_FILE
    info = {
        "format": "onnx", "file": ONNX_FILE, "opset": checks["opset"], "precision": "fp32",
        "input": {"name": INPUT_NAME, "dtype": "uint8", "layout": "NHWC", "color": "RGB",
                  "shape": checks["input_shape"]},
        "outputs": dict(checks["output_shapes"]), "batch": "dynamic" if dynamic_batch else 1,
        "max_batch": max_batch if dynamic_batch else 1, "ops": checks["ops"], "nodes": checks["nodes"],
        "onnx_sha256": file_sha256(onnx_path), "source_model_dir": str(model_dir.resolve()),
        "source_sha256": file_sha256(model_dir / WEIGHTS_FILE), "parity": parity,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
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
