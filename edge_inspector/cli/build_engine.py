"""`edge-inspector build-engine`: an exported model dir -> a TensorRT engine for this GPU (export/tensorrt_build.py)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

VERB = "build-engine"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(VERB, help="build a TensorRT engine for this machine's GPU from an exported model",
                       description="Build model.engine (+ engine.json, its build tag) from an exported model "
                       "directory (model.onnx + metadata.json). Run it on the machine that will run the engine "
                       "(e.g. on the Jetson itself): engines are specific to the GPU and TensorRT version.")
    p.add_argument("--model", type=Path, required=True, metavar="DIR",
                   help="exported model directory (model.onnx + metadata.json)")
    p.add_argument("--precision", choices=("fp16", "fp32", "int8"), default="fp16",
                   help="engine precision (default fp16); int8 needs --calib-data")
    p.add_argument("--calib-data", type=Path, default=None, metavar="DIR",
                   help="folder of good-part images for int8 calibration (required for int8)")
    p.add_argument("--calib-count", type=int, default=500, metavar="N",
                   help="at most this many calibration images (default 500)")
    p.add_argument("--parity-data", type=Path, default=None, metavar="DIR",
                   help="good-part images an fp16/int8 engine is checked on against the fp32 graph before it is "
                   "written (default: --calib-data; synthetic check frames are always added)")
    p.add_argument("--parity-count", type=int, default=64, metavar="N",
                   help="at most this many --parity-data images (default 64)")
    p.add_argument("--parity-tolerance", type=float, default=None, metavar="F",
                   help="an fp16/int8 score may move by F x |threshold| (default: PRECISION_TOLERANCE in "
                   "backends/precision_parity.py, 0.03); a verdict flip at the threshold always refuses")
    p.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="largest batch of a dynamic-batch model (optimisation profile min 1, opt = max; default 8)")
    p.add_argument("--workspace-mb", type=int, default=2048, metavar="MB",
                   help="TensorRT builder workspace in MiB (default 2048)")
    p.add_argument("--timing-cache", type=Path, default=None, metavar="PATH",
                   help="timing cache file reused across builds (default MODEL/timing.cache)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output directory (default: the model directory)")
    p.set_defaults(func=cmd_build_engine)


def _fail(message: str) -> int:
    print(f"edge-inspector {VERB}: error: {message}", file=sys.stderr)
    return 2


def cmd_build_engine(args: argparse.Namespace) -> int:
    """Check the arguments and that TensorRT is importable, build, print a summary."""
    from ..backends import BackendError
    from ..backends.engine_tag import TAG_FILE, load_tensorrt
    from ..export import ExportError
    from ..model.metadata import MetadataError

    onnx = args.model / "model.onnx"
    if not onnx.is_file():
        return _fail(f"{onnx}: not found (--model must be a directory written by `edge-inspector export`)")
    if args.precision == "int8" and args.calib_data is None:
        return _fail("--precision int8 needs --calib-data DIR (a folder of good-part images)")
    if min(args.calib_count, args.max_batch, args.workspace_mb, args.parity_count) < 1:
        return _fail("--calib-count, --parity-count, --max-batch and --workspace-mb must be >= 1")
    if args.parity_tolerance is not None and not 0.0 <= args.parity_tolerance <= 1.0:
        return _fail(f"--parity-tolerance: expected 0..1 (a fraction of the threshold), got {args.parity_tolerance}")
    try:
        load_tensorrt()
    except BackendError as exc:
        return _fail(str(exc))
    from ..backends.precision_parity import PRECISION_TOLERANCE
    from ..export.tensorrt_build import build_engine

    start = time.monotonic()
    try:
        engine = build_engine(args.model, args.precision, calib_dir=args.calib_data, calib_images=args.calib_count,
                              max_batch=args.max_batch, workspace_mb=args.workspace_mb,
                              timing_cache=args.timing_cache, out=args.out, progress=print,
                              parity_dir=args.parity_data, parity_images=args.parity_count,
                              parity_tolerance=PRECISION_TOLERANCE if args.parity_tolerance is None
                              else args.parity_tolerance)
    except (ExportError, BackendError, MetadataError) as exc:
        return _fail(str(exc))
    seconds = time.monotonic() - start
    tag = json.loads((engine.parent / TAG_FILE).read_text(encoding="utf-8"))
    size_mb = engine.stat().st_size / 1e6
    print(f"engine     {engine} ({size_mb:.1f} MB)")
    print(f"precision  {tag['precision']}, max batch {tag['max_batch']}")
    print(f"GPU        {tag['gpu_name']} (sm {tag['compute_capability']}), TensorRT {tag['tensorrt_version']}")
    print(f"built in   {seconds:.1f} s on {tag['host']} ({platform.machine()}, Python {platform.python_version()})")
    print(f"run it     model.backend: tensorrt, model.path: {engine.parent}")
    return 0
