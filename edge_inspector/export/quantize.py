"""int8 for ONNX Runtime on CPUs: static QDQ quantisation of an exported fp32 graph, calibrated on good images.

Weights per channel (int8), activations uint8 (what ONNX Runtime's CPU kernels run fastest, with VNNI or
AMX where the CPU has them). The convs that make the map's last values (outputs of 3 channels or fewer:
reconstruction, segmentation logits, the Gaussian smoothing) stay fp32, because scores are compared with
a threshold to a few decimals. TensorRT does its own int8 calibration from the fp32 export instead
(`build-engine --precision int8`): its int8 needs symmetric activations, this graph's are not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..model.metadata import ModelMetadata
from . import ExportError

log = logging.getLogger(__name__)

KEEP_FP32_MAX_CHANNELS = 3


def calibration_batches(files: list[Path], meta: ModelMetadata) -> Iterator[np.ndarray]:
    """uint8 RGB NHWC batches of one image each, prepared exactly like inference input."""
    import cv2

    from ..model.preprocess import to_input_images

    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"calibration image {path}: cannot decode it")
        yield to_input_images([image], meta)


def fp32_tail_convs(model_path: Path) -> list[str]:
    """Names of the Conv nodes kept in fp32: those with at most KEEP_FP32_MAX_CHANNELS output channels."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    weights = {init.name: init for init in graph.initializer}
    keep = []
    for node in graph.node:
        is_conv = node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in weights
        if is_conv and numpy_helper.to_array(weights[node.input[1]]).shape[0] <= KEEP_FP32_MAX_CHANNELS:
            keep.append(node.name)
    return keep


def quantize_int8(fp32_onnx: Path, out_onnx: Path, calib_files: list[Path], meta: ModelMetadata,
                  input_name: str = "image") -> dict[str, Any]:
    """Write an int8 QDQ copy of fp32_onnx calibrated on calib_files; returns what was done."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calib_files) < 8:
        raise ExportError(f"int8 calibration needs at least 8 good images, got {len(calib_files)}")

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = calibration_batches(calib_files, meta)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    prepared = out_onnx.with_name(out_onnx.name + ".prep.onnx")
    try:
        quant_pre_process(str(fp32_onnx), str(prepared), skip_symbolic_shape=True)
        keep = fp32_tail_convs(prepared)
        quantize_static(str(prepared), str(out_onnx), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep)
    finally:
        prepared.unlink(missing_ok=True)
    log.info("int8: %d calibration images, %d tail convs kept in fp32", len(calib_files), len(keep))
    return {"method": "ORT static QDQ, MinMax, per-channel weights", "calibration_images": len(calib_files),
            "fp32_nodes": keep}
