"""int8 for ONNX Runtime on CPUs: static QDQ quantisation of an exported fp32 graph, calibrated on good images.

Weights per channel (int8), activations uint8 (what ONNX Runtime's CPU kernels run fastest, with VNNI or
AMX where the CPU has them). The input normalisation, the first layer of the segmentation head (it
compares the image with its reconstruction: 8-bit activations there erase what it looks for) and the
map's tail (sigmoid, smoothing, score) always stay fp32. How much of the rest is quantised is a LEVEL,
because what holds parity depends on the trained weights: measured on the 256 px cookie model, "most"
moved test-set scores by at most 0.009 (52 ms against 108 ms fp32); on the 64 px test model the same
level moved them by 0.34 and only "backbone" (encoder, bottleneck, decoder) stayed within 0.016.
`export` tries the levels in order and keeps the first whose scores on held-out good images stay within
tolerance of the checkpoint's (export_api.py).
TensorRT does its own int8 calibration from the fp32 export instead
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

# Level -> torch.onnx name scopes of the modules whose nodes are quantised (networks.py's attribute names),
# from the fastest to the closest to fp32.
_BACKBONE = ("model.encoder", "model.bottleneck", "model.decoder")
LEVELS: dict[str, tuple[str, ...]] = {
    "most": (*_BACKBONE, "model.squeeze", "model.fuse", "model.expand",
             "model.seg.e2", "model.seg.e3", "model.seg.d2", "model.seg.d1", "model.seg.out"),
    "backbone+seg": (*_BACKBONE, "model.seg.e2", "model.seg.e3", "model.seg.d2"),
    "backbone": _BACKBONE,
}
SCOPE_KEY = "pkg.torch.onnx.name_scopes"


def calibration_batches(files: list[Path], meta: ModelMetadata) -> Iterator[np.ndarray]:
    """uint8 RGB NHWC batches of one image each, prepared exactly like inference input."""
    from ..model.image_file import read_frames
    from ..model.preprocess import to_input_images

    for path in files:
        yield to_input_images(read_frames([path], what="calibration image"), meta)


def fp32_nodes(model_path: Path, modules: tuple[str, ...]) -> list[str]:
    """Names of the nodes kept in fp32: every node outside `modules` (by its torch.onnx name scope).
    A graph with no node inside them (not written by `export`) is refused: there would be nothing to gain."""
    import onnx

    nodes = onnx.load(str(model_path)).graph.node
    keep = []
    for node in nodes:
        scope = next((p.value for p in node.metadata_props if p.key == SCOPE_KEY), "")
        if not any(f"'{module}'" in scope for module in modules):
            keep.append(node.name)
    if len(keep) == len(nodes):
        raise ExportError(f"{model_path}: no node belongs to {', '.join(modules)}; nothing to quantise")
    return keep


def quantize_int8(fp32_onnx: Path, out_onnx: Path, calib_files: list[Path], meta: ModelMetadata,
                  level: str = "backbone", input_name: str = "image") -> dict[str, Any]:
    """Write an int8 QDQ copy of fp32_onnx, the modules of `level` quantised, calibrated on calib_files."""
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
        keep = fp32_nodes(prepared, LEVELS[level])
        quantize_static(str(prepared), str(out_onnx), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep)
    finally:
        prepared.unlink(missing_ok=True)
    log.info("int8 level %s: %d calibration images, %d nodes kept in fp32", level, len(calib_files), len(keep))
    return {"method": "ORT static QDQ, MinMax, per-channel weights", "calibration_images": len(calib_files),
            "level": level, "quantised_modules": list(LEVELS[level]), "fp32_nodes": len(keep)}

