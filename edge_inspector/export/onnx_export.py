"""`export`: a model directory (model.pt) -> an engine directory (model.onnx + metadata.json).

The graph holds the whole scoring step (ScoringGraph: normalisation, network, anomaly map, smoothing,
score), so nothing about preprocessing can be lost on the way; the metadata beside it carries the
thresholds and score statistics unchanged. The export only succeeds when ONNX Runtime reproduces the
checkpoint's scores and maps on a set of frames within the tolerances below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..model.metadata import WEIGHTS_FILE, ModelMetadata
from ..model.part_mask import copy_part_mask
from . import ExportError
from .checkpoint_parity import compare_with_torch, parity_frames
from .onnx_checks import check_onnx

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
# fp32 ONNX Runtime vs PyTorch eager: the same maths in a different order of float additions.
SCORE_RTOL = 1e-4
MAP_ATOL = 1e-3


@dataclass(frozen=True)
class ExportResult:
    """What `export_onnx` wrote and how closely ONNX Runtime matched PyTorch."""

    out_dir: Path
    onnx_path: Path
    metadata: ModelMetadata
    checks: dict[str, Any]
    parity: dict[str, float]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_onnx(model_dir: Path, out_dir: Path, *, dynamic_batch: bool = False, max_batch: int = 8,
                opset: int = 18, overwrite: bool = False) -> ExportResult:
    """Export model_dir's network with its scoring graph to out_dir/model.onnx plus metadata.json, check it
    (onnx.checker, strict shape inference, TensorRT-friendly ops) and verify parity with ONNX Runtime."""
    from ..model.checkpoint import load_model
    from .scoring_graph import INPUT_NAME, OUTPUT_NAMES, ScoringGraph

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _check_request(model_dir, out_dir, overwrite, opset, dynamic_batch, max_batch)
    model, meta = load_model(model_dir, "cpu")

    def parity_of(onnx: Path) -> dict[str, float]:
        parity = compare_with_torch(onnx, model, meta, parity_frames(meta, n=6), batch=3 if dynamic_batch else 1)
        if parity["max_score_rel_diff"] > SCORE_RTOL or parity["max_map_abs_diff"] > MAP_ATOL:
            raise ExportError(f"{out_dir}: ONNX Runtime differs from PyTorch beyond tolerance: {parity_text(parity)} "
                              f"(allowed score {SCORE_RTOL} relative, map {MAP_ATOL} absolute)")
        return parity

    graph = ScoringGraph(model, meta).eval()
    onnx_path, checks, parity, export_info = write_onnx(
        graph, meta, model_dir, out_dir, input_name=INPUT_NAME, output_names=OUTPUT_NAMES, parity_of=parity_of,
        dynamic_batch=dynamic_batch, max_batch=max_batch, opset=opset)
    out_meta = replace(meta, export=export_info, versions={**meta.versions, **export_versions()})
    out_meta.save(out_dir)
    copy_part_mask(meta, model_dir, out_dir)
    log.info("exported %s -> %s (%s)", model_dir, onnx_path, parity_text(parity))
    return ExportResult(out_dir, onnx_path, out_meta, checks, parity)


def write_onnx(graph: Any, meta: ModelMetadata, model_dir: Path, out_dir: Path, *, input_name: str,
               output_names: tuple[str, ...], parity_of: Callable[[Path], dict[str, float]], dynamic_batch: bool,
               max_batch: int, opset: int) -> tuple[Path, dict[str, Any], dict[str, float], dict[str, Any]]:
    """Trace `graph` (uint8 NHWC RGB in) to out_dir/model.onnx through a temporary file that is checked
    (onnx.checker, TensorRT-friendly ops, shapes) and compared by `parity_of` (which raises ExportError past its
    tolerance) before it is renamed into place; returns the path, the checks, the parity and metadata's `export`."""
    import torch

    h, w = meta.input_size
    # torch.export specialises a dimension of size 1, so a dynamic batch is traced with 2 frames.
    example = torch.zeros((2 if dynamic_batch else 1, h, w, 3), dtype=torch.uint8)
    dynamic = {input_name: {0: torch.export.Dim("batch", min=1, max=max_batch)}} if dynamic_batch else None
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("onnx_ir", "onnxscript", "torch.onnx"):  # per-pass INFO lines would bury the summary
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    tmp = out_dir / f".{ONNX_FILE}.{os.getpid()}.tmp"
    try:
        with redirect_stdout(io.StringIO()), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(graph, (example,), str(tmp), input_names=[input_name], output_names=list(output_names),
                              opset_version=opset, dynamo=True, dynamic_shapes=dynamic, external_data=False,
                              verbose=False)
        batch: int | str = "batch" if dynamic_batch else 1
        checks = check_onnx(tmp, input_name=input_name, input_shape=[batch, h, w, 3], output_names=output_names)
        parity = parity_of(tmp)
        tmp.replace(out_dir / ONNX_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    onnx_path = out_dir / ONNX_FILE
    info = {
        "format": "onnx", "file": ONNX_FILE, "opset": checks["opset"], "precision": "fp32",
        "input": {"name": input_name, "dtype": "uint8", "layout": "NHWC", "color": "RGB",
                  "shape": checks["input_shape"]},
        "outputs": dict(checks["output_shapes"]), "batch": "dynamic" if dynamic_batch else 1,
        "max_batch": max_batch if dynamic_batch else 1, "ops": checks["ops"], "nodes": checks["nodes"],
        "onnx_sha256": file_sha256(onnx_path), "source_model_dir": str(model_dir.resolve()),
        "source_sha256": file_sha256(model_dir / WEIGHTS_FILE), "parity": parity,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return onnx_path, checks, parity, info


def export_versions() -> dict[str, str | None]:
    """Versions of the packages that wrote (and checked) the export."""
    from ..evaluation.machine import _version

    return {f"export_{m}": _version(m) for m in ("torch", "onnx", "onnxruntime", "onnxscript")}


def _check_request(model_dir: Path, out_dir: Path, overwrite: bool, opset: int, dynamic_batch: bool,
                   max_batch: int) -> None:
    if opset < 18:
        raise ExportError(f"--opset {opset}: the exporter writes opset 18 or newer (TensorRT 10 parses up to 20+)")
    if dynamic_batch and max_batch < 2:
        raise ExportError(f"--max-batch {max_batch}: a dynamic batch needs a maximum of 2 or more")
    _check_out_dir(model_dir, out_dir, overwrite)


def _check_out_dir(model_dir: Path, out_dir: Path, overwrite: bool) -> None:
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise ExportError(f"{model_dir}: no {WEIGHTS_FILE} (export takes a model directory written by `train`)")
    if out_dir.resolve() == model_dir.resolve():
        raise ExportError(f"--out {out_dir}: must differ from the model directory")
    if (out_dir / ONNX_FILE).exists() and not overwrite:
        raise ExportError(f"{out_dir / ONNX_FILE} exists (use --force to replace it)")


def parity_text(parity: dict[str, float]) -> str:
    """One line: the largest score and map differences and over how many frames."""
    text = f"max score diff {parity['max_score_abs_diff']:.2e} ({parity['max_score_rel_diff']:.2e} relative)"
    if "max_map_abs_diff" in parity:
        text += f", max map diff {parity['max_map_abs_diff']:.2e}"
    if "decision_flips" in parity:
        text += f", {int(parity['decision_flips'])} PASS/FAIL flips at the threshold"
    return text + f" over {int(parity['frames'])} frames"
