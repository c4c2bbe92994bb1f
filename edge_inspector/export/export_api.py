"""The `export` verb's engine: fp32 export, optionally followed by int8 quantisation with a parity report."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import ModelMetadata
from . import ExportError
from .onnx_export import ONNX_FILE, ExportResult, export_onnx, file_sha256, parity_text
from .parity import parity_frames

log = logging.getLogger(__name__)


def spread(files: list[Path], count: int) -> list[Path]:
    """`count` files evenly spread over a sorted list (all of them when there are fewer)."""
    if count >= len(files):
        return files
    idx = np.linspace(0, len(files) - 1, count).round().astype(int)
    return [files[i] for i in sorted(set(idx.tolist()))]


def export_model(model_dir: Path, out_dir: Path, *, precision: str = "fp32", calib_data: Path | None = None,
                 calib_count: int = 64, dynamic_batch: bool = False, max_batch: int = 8, opset: int = 18,
                 overwrite: bool = False) -> ExportResult:
    """Export model_dir to out_dir; int8 quantises the fp32 graph with good images from calib_data and
    records how its scores and decisions compare with the checkpoint's."""
    if precision == "fp32":
        return export_onnx(model_dir, out_dir, dynamic_batch=dynamic_batch, max_batch=max_batch, opset=opset,
                           overwrite=overwrite)
    if precision != "int8":
        raise ExportError(f"--precision {precision!r}: expected fp32 or int8")
    if calib_data is None:
        raise ExportError("--precision int8 needs --calib-data (a folder of good images)")
    from ..training.data import good_image_files
    from .quantize import quantize_int8

    files = spread(good_image_files(Path(calib_data)), calib_count)
    out_dir = Path(out_dir)
    staging = out_dir / ".fp32-export"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        fp32 = export_onnx(model_dir, staging, dynamic_batch=dynamic_batch, max_batch=max_batch, opset=opset)
        if (out_dir / ONNX_FILE).exists() and not overwrite:
            raise ExportError(f"{out_dir / ONNX_FILE} exists (use --force to replace it)")
        quant = quantize_int8(fp32.onnx_path, out_dir / ONNX_FILE, files, fp32.metadata)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    parity = int8_parity(model_dir, out_dir / ONNX_FILE, fp32.metadata, files)
    info: dict[str, Any] = {**fp32.metadata.export, "precision": "int8", "quantization": quant,
                            "onnx_sha256": file_sha256(out_dir / ONNX_FILE), "parity": parity}
    meta = replace(fp32.metadata, model_id=f"{fp32.metadata.model_id}-int8", export=info)
    meta.save(out_dir)
    if parity["decision_flips"]:
        log.warning("int8: %d of %d frames change PASS/FAIL against the checkpoint at threshold %.4g: %s",
                    parity["decision_flips"], parity["frames"], meta.image_threshold, parity_text(parity))
    return ExportResult(out_dir, out_dir / ONNX_FILE, meta, {**fp32.checks, "ops": info["ops"]}, parity)


def int8_parity(model_dir: Path, onnx_path: Path, meta: ModelMetadata, calib_files: list[Path]) -> dict[str, Any]:
    """Scores of the int8 graph vs the checkpoint on synthetic frames and the calibration images, and how
    many PASS/FAIL decisions at the model's threshold differ."""
    import cv2
    import onnxruntime as ort
    import torch

    from ..model.checkpoint import load_model
    from ..model.preprocess import preprocess, to_input_images

    model, _ = load_model(model_dir, "cpu")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    frames = parity_frames(meta)
    for path in calib_files[:32]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:  # an unreadable one already failed calibration
            frames.append(image)
    ref, got = [], []
    for frame in frames:
        with torch.no_grad():
            ref.append(float(model(torch.from_numpy(preprocess([frame], meta)))[1][0]))
        got.append(float(session.run(None, {"image": to_input_images([frame], meta)})[1][0]))
    r, g = np.asarray(ref), np.asarray(got)
    flips = int(np.sum((r > meta.image_threshold) != (g > meta.image_threshold)))
    diff = np.abs(r - g)
    return {"frames": len(frames), "max_score_abs_diff": float(diff.max()),
            "max_score_rel_diff": float((diff / np.maximum(np.abs(r), 1e-6)).max()),
            "decision_flips": flips, "threshold": meta.image_threshold}
