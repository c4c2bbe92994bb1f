"""`edge-inspector export`: a trained model directory -> an engine directory (model.onnx + metadata.json)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export a model's whole scoring graph to ONNX",
                       description="Export a model directory (written by `train`) to ONNX with the whole scoring "
                       "graph inside (normalisation, network, anomaly map, smoothing, score) and its metadata "
                       "(thresholds, score statistics) beside it. The result is a model directory for `run`, "
                       "`evaluate` and `bench` with backend onnxruntime, and the input of `build-engine`. "
                       "Fails unless ONNX Runtime reproduces the checkpoint's scores.")
    p.add_argument("--model", type=Path, required=True, help="model directory with model.pt + metadata.json")
    p.add_argument("--out", type=Path, required=True, help="engine directory to write, e.g. engines/bottle/")
    p.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                   help="int8: static quantisation for ONNX Runtime on CPUs, calibrated on --calib-data")
    p.add_argument("--calib-data", type=Path, default=None,
                   help="good images for int8 calibration (MVTec category dir: its train/good)")
    p.add_argument("--calib-count", type=int, default=64, help="calibration images used (spread over the folder)")
    p.add_argument("--int8-tolerance", type=float, default=0.03,
                   help="int8: the largest score change allowed against the checkpoint, as a fraction of the "
                   "threshold (a FAIL may move half its margin); the most quantised level within it is kept, "
                   "and export refuses when no level is (default 0.03)")
    p.add_argument("--dynamic-batch", action="store_true", help="batch dimension dynamic (1..--max-batch)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--force", action="store_true", help="replace an existing export in --out")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import ExportError
    from ..export.export_api import export_model
    from ..export.onnx_export import parity_text

    if args.precision == "int8" and args.calib_data is None:
        raise ExportError("--precision int8 needs --calib-data (a folder of good images)")
    start = time.monotonic()
    result = export_model(args.model, args.out, precision=args.precision, calib_data=args.calib_data,
                          calib_count=args.calib_count, dynamic_batch=args.dynamic_batch,
                          int8_tolerance=args.int8_tolerance, max_batch=args.max_batch, opset=args.opset,
                          overwrite=args.force)
    info = result.metadata.export
    size_mb = result.onnx_path.stat().st_size / 1e6
    print(f"exported {args.model} -> {result.onnx_path} ({size_mb:.1f} MB, opset {info['opset']}, "
          f"{info['precision']}, batch {info['batch']}, {info['nodes']} nodes) in {time.monotonic() - start:.0f} s")
    print(f"input {info['input']['name']} uint8 RGB NHWC {info['input']['shape']}; "
          f"outputs {', '.join(f'{k} {v}' for k, v in info['outputs'].items())}")
    print(f"parity with PyTorch: {parity_text(info['parity'])}")
    if info["precision"] == "int8":
        quant = info["quantization"]
        print(f"int8 level {quant['level']} ({', '.join(quant['quantised_modules'])}), calibrated on "
              f"{quant['calibration_images']} good images; levels tried (worst score move / its allowance): "
              + ", ".join(f"{k} {v:.3g}" for k, v in info["parity"]["levels_tried"])
              + f"; allowance {info['parity']['allowed_score_diff']:.3g}, or half a FAIL's margin")
    if "probabilities" in info["outputs"]:  # a defect-type classifier: class names, no thresholds
        print(f"defect types: {', '.join(result.metadata.arch['classes'])}; run it: model.defect_types "
              f"{result.out_dir} (beside an inspection model in model.path)")
        return 0
    print(f"thresholds carried over: image {result.metadata.image_threshold:.6g}, "
          f"pixel {result.metadata.pixel_threshold:.6g}")
    trt = (f"TensorRT: edge-inspector build-engine --model {result.out_dir}" if info["precision"] == "fp32" else
           "TensorRT builds from an fp32 export (build-engine --precision int8 calibrates itself)")
    print(f"run it: model.path {result.out_dir} with model.backend onnxruntime (or auto); {trt}")
    return 0
