"""Checks an exported ONNX graph must pass before it is written beside its metadata (onnx only, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import ExportError

# Ops the TensorRT 10 ONNX parser and ONNX Runtime both run natively; anything else (control flow,
# data-dependent shapes, custom domains) would fail late on a Jetson, so the export fails now.
TRT_FRIENDLY_OPS = frozenset({
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "DequantizeLinear", "Div", "Equal", "Exp", "Expand", "Flatten", "Gather", "Identity", "Max",
    "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow", "QuantizeLinear", "Reciprocal", "ReduceL2", "ReduceMax",
    "ReduceMean", "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Sqrt", "Squeeze",
    "Sub", "Sum", "Transpose", "Unsqueeze", "Where",
    # The classical kinds (model/classical.py): tree tests and LOF's nearest neighbours (TopK: sorted, static K
    # under TensorRT's limit of 3840).
    "LessOrEqual", "TopK",
})


def check_onnx(path: Path, *, input_name: str, input_shape: list[int | str], output_names: tuple[str, ...],
               min_opset: int = 17) -> dict[str, Any]:
    """Validate with onnx.checker (full check) and strict shape inference; refuse exotic ops, a wrong input
    or missing outputs. Returns a summary: opset, ops used, node count, input and output shapes."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{path}: not a valid ONNX graph: {str(exc).splitlines()[0]}") from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < min_opset:
        raise ExportError(f"{path}: opset {opset}, expected {min_opset} or newer")
    ops = sorted({n.op_type for n in model.graph.node})
    foreign = [f"{n.domain}::{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx")]
    exotic = [op for op in ops if op not in TRT_FRIENDLY_OPS]
    if foreign or exotic:
        raise ExportError(f"{path}: ops TensorRT may not parse: {', '.join(foreign + exotic)}")
    inputs = {i.name: _shape(i) for i in model.graph.input}
    if list(inputs) != [input_name]:
        raise ExportError(f"{path}: inputs {list(inputs)}, expected [{input_name!r}]")
    if inputs[input_name] != input_shape:
        raise ExportError(f"{path}: input {input_name} has shape {inputs[input_name]}, expected {input_shape}")
    outputs = {o.name: _shape(o) for o in model.graph.output}
    if tuple(outputs) != output_names:
        raise ExportError(f"{path}: outputs {list(outputs)}, expected {list(output_names)}")
    return {"opset": opset, "ops": ops, "nodes": len(model.graph.node), "input_shape": inputs[input_name],
            "output_shapes": outputs}


def _shape(value_info: Any) -> list[int | str]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
