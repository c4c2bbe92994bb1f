"""`build-engine`'s precision check: an fp16/int8 plan is scored against the fp32 ONNX graph before it is
written, and refused when it changes a verdict (backends/precision_parity.py has the rule).

The plan is loaded from a staging folder through the real TensorRTBackend, the reference is the exported
graph in ONNX Runtime on the CPU, and both score the same check frames: the good images given (the int8
calibration images unless others are named), flat and ramp frames, noise and synthetic parts. Needs
TensorRT and pycuda (like the build itself) and onnxruntime; no torch.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import BackendOptions
from ..backends.engine_tag import ENGINE_FILE, TAG_FILE, RuntimeInfo, make_tag, write_tag
from ..backends.precision_parity import PRECISION_TOLERANCE, PrecisionParity, check_frames, compare_precision
from ..model.metadata import METADATA_FILE, ModelMetadata
from . import ExportError

STAGING_DIR = ".precision-check"


def check_plan(plan: Any, precision: str, model_dir: Path, out_dir: Path, runtime: RuntimeInfo,
               onnx_sha256: str, engine_batch: int, images: list[np.ndarray],
               tolerance: float = PRECISION_TOLERANCE) -> PrecisionParity:
    """Score check frames with the built plan and with model_dir/model.onnx (fp32, ONNX Runtime on the CPU)."""
    try:
        from ..backends.onnxruntime_backend import OnnxRuntimeBackend
    except ImportError as exc:
        raise ExportError(f"the {precision} precision check needs onnxruntime ({exc.name} is missing: "
                          "pip install edge-inspector[onnx]), or build with --precision fp32") from None
    from ..backends.tensorrt_backend import TensorRTBackend

    meta = ModelMetadata.load(model_dir)
    stage = out_dir / STAGING_DIR
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        shutil.copy2(model_dir / METADATA_FILE, stage / METADATA_FILE)
        (stage / ENGINE_FILE).write_bytes(memoryview(plan))
        write_tag(stage / TAG_FILE, make_tag(runtime, precision, engine_batch, onnx_sha256))
        reference = OnnxRuntimeBackend(model_dir, "cpu", BackendOptions(max_batch=1))
        engine = TensorRTBackend(stage, "cuda:0", BackendOptions(max_batch=engine_batch))
        try:
            frames = check_frames(meta, images)
            return compare_precision(reference, engine, frames, precision, tolerance)
        finally:
            engine.close()
            reference.close()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
