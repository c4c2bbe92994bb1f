"""int8 for ONNX Runtime on CPUs: static QDQ quantisation of an exported fp32 graph, calibrated on good images.

Weights per channel (int8), activations uint8 (what ONNX Runtime's CPU kernels run fastest, with VNNI or
AMX where the CPU has them). Only the encoder, bottleneck and decoder are quantised; the input
normalisation, the segmentation head and the map's tail (smoothing, score) stay fp32. Measured on the
test model: quantising everything moved scores by up to 0.34 (the segmentation head compares the image
with its reconstruction, and 8-bit activations erase the small differences it looks for); quantising
only those three moved them by at most 0.017. TensorRT does its own int8 calibration from the fp32 export instead
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

# torch.onnx name scopes of the modules whose nodes are quantised (networks.py's attribute names).
QUANTISED_MODULES = ("model.encoder", "model.bottleneck", "model.decoder")
SCOPE_KEY = "pkg.torch.onnx.name_scopes"


def calibration_batches(files: list[Path], meta: ModelMetadata) -> Iterator[np.ndarray]:
    """uint8 RGB NHWC batches of one image each, prepared exactly like inference input."""
    import cv2

    from ..model.preprocess import to_input_images

    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"calibration image {path}: cannot decode it")
        yield to_input_images([image], meta)


def fp32_nodes(model_path: Path) -> list[str]:
    """Names of the nodes kept in fp32: every node outside QUANTISED_MODULES (by its torch.onnx name scope).
    A graph with no node inside them (not written by `export`) is refused: there would be nothing to gain."""
    import onnx

    nodes = onnx.load(str(model_path)).graph.node
    keep = []
    for node in nodes:
        scope = next((p.value for p in node.metadata_props if p.key == SCOPE_KEY), "")
        if not any(f"'{module}'" in scope for module in QUANTISED_MODULES):
            keep.append(node.name)
    if len(keep) == len(nodes):
        raise ExportError(f"{model_path}: no node belongs to {', '.join(QUANTISED_MODULES)}; nothing to quantise")
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
        keep = fp32_nodes(prepared)
        quantize_static(str(prepared), str(out_onnx), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep)
    finally:
        prepared.unlink(missing_ok=True)
    log.info("int8: %d calibration images, %d nodes kept in fp32", len(calib_files), len(keep))
    return {"method": "ORT static QDQ, MinMax, per-channel weights", "calibration_images": len(calib_files),
            "quantised_modules": list(QUANTISED_MODULES), "fp32_nodes": len(keep)}

