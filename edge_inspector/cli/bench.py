"""`edge-inspector bench`: model-only latency at batch 1 and N, the pipeline end to end through a real broker,
and the pipeline's own overhead with a null model; the measuring is in bench/ (model, e2e, spool, what_if)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .tiling_args import add_tiling_args, tiling_spec


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="measure latency and throughput of a model and of the whole pipeline",
                       description="Benchmark a model on a backend (batch 1 and --batch N: p50/p99 latency, "
                       "frames/s); with --e2e also the real daemon from camera-sized frames in memory to the "
                       "verdict at a subscriber of a private Mosquitto broker. --backend null needs no model and "
                       "measures the pipeline's own overhead per stage. Prints the machine and versions; "
                       "--json appends the result as one line.")
    p.add_argument("--model", type=Path, default=None, help="model directory (not needed with --backend null "
                   "or --spool)")
    p.add_argument("--backend", default="torch", help="a registered backend, auto, or null (no model: constant "
                   "maps after the real preprocessing and map-back; for the pipeline overhead)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU inference threads (0 = the library's default)")
    p.add_argument("--precision", default="auto", help="auto, fp32, fp16, bf16 or int8 (as the backend allows)")
    p.add_argument("--batch", type=int, default=8, help="the larger batch of the model-only run (1 = skip it)")
    p.add_argument("--frames", type=int, default=100, help="timed frames (model-only and the paced e2e run)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--frame-size", default=None, help="WIDTHxHEIGHT of the synthetic frames, e.g. 1280x1024, "
                   "or one side (default: the model's input size; 1280x1024 with --e2e)")
    p.add_argument("--input-size", type=int, default=96, help="--backend null: the side a model would resize "
                   "frames to (default 96)")
    p.add_argument("--defect-every", type=int, default=3, help="--backend null: every n-th frame is a FAIL with "
                   "a region, so evidence and annotation are paid for too (0 = all PASS; default 3)")
    p.add_argument("--e2e", action="store_true", help="also run the real daemon end to end through a private "
                   "Mosquitto broker (paced at --fps), then unpaced for the highest sustained rate")
    p.add_argument("--fps", type=float, default=10.0, help="--e2e: the camera's rate in the paced run")
    p.add_argument("--max-frames", type=int, default=None, help="--e2e: frames of the unpaced run "
                   "(default --frames; 0 = skip it)")
    p.add_argument("--images", type=Path, default=None, help="--e2e: frames from this folder of images (an MVTec "
                   "category dir: its test/ images), resized to --frame-size, instead of synthetic parts")
    p.add_argument("--workdir", type=Path, default=None, help="--e2e: where spool, audit and evidence go (kept; "
                   "default a temporary folder, removed). Use the disk the daemon's state lives on")
    p.add_argument("--json", type=Path, default=None, help="append the result as one JSON line")
    p.add_argument("--spool", action="store_true", help="measure the durable spool instead of a model: append "
                   "latency per verdict with fsync normal and full (no model needed)")
    p.add_argument("--spool-dir", type=Path, default=None, help="where the spool benchmark writes (default: the "
                   "temp dir; use the disk the daemon's state lives on)")
    add_tiling_args(p)
    p.add_argument("--dashboard", action="store_true", help="--e2e: a third paced run with the dashboard on and a "
                   "simulated browser using it (state and live frame every second, rejects and a what-if every two)")
    p.add_argument("--hammer", type=int, default=0, metavar="CLIENTS", help="--e2e: a paced run while CLIENTS "
                   "HTTP clients (another process) request every dashboard read route as fast as it answers")
    p.add_argument("--flood-kb", type=int, default=0, metavar="KB", help="--e2e: a paced run while messages of KB "
                   "kilobytes arrive on the command and trigger topics twice a second (e.g. 1024)")
    p.add_argument("--what-if", action="store_true", help="measure a what-if replay over --frames kept anomaly maps "
                   "of --frame-size (default 1280x1024) and the dashboard's live JPEG (no model needed)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.spool:
        return _bench_spool(args)
    if args.what_if:
        from ..bench.model_bench import parse_frame_size
        from ..bench.what_if_bench import run_what_if_benchmark, what_if_summary_lines

        width, height = parse_frame_size(args.frame_size or "1280x1024")
        replayed = run_what_if_benchmark(args.frames, width, height)
        _report(what_if_summary_lines(replayed), replayed, args.json)
        return 0
    if args.model is None and args.backend != "null":
        print("edge-inspector bench: error: --model is required (or --backend null, or --spool)", file=sys.stderr)
        return 2
    from ..bench.model_bench import bench_frames, folder_frames, parse_frame_size, run_model_benchmark, summary_lines

    default_size = "1280x1024" if args.e2e else None
    size_text = args.frame_size or default_size
    try:
        frame_size = parse_frame_size(size_text) if size_text else None
    except ValueError as exc:
        print(f"edge-inspector bench: error: {exc}", file=sys.stderr)
        return 2
    backend = _backend(args)
    try:
        result: dict[str, Any] = run_model_benchmark(backend, frames=args.frames, warmup=args.warmup,
                                                     batch=args.batch, frame_size=frame_size)
        result.update(model=str(args.model) if args.model else None,
                      precision=getattr(backend, "precision", args.precision),
                      threads=args.threads, device=args.device)
        lines = summary_lines(result)
        tiles_per_frame = getattr(backend, "tiles_per_frame", None)
        if tiles_per_frame is not None:
            width, height = result["frame_size"]
            result["tiles_per_frame"] = tiles_per_frame(height, width)
            lines.insert(1, f"tiled scoring: {result['tiles_per_frame']} tiles per {width}x{height} frame "
                            f"({backend.name})")
        if args.e2e:
            from ..bench.e2e import e2e_summary_lines, run_e2e

            width, height = frame_size or (result["frame_size"][0], result["frame_size"][1])
            images = folder_frames(args.images, width, height) if args.images else bench_frames(width, height)
            result["e2e_images"] = str(args.images) if args.images else "synthetic brushed_metal"
            max_frames = args.frames if args.max_frames is None else args.max_frames
            result["e2e"] = run_e2e(backend, images, frames=args.frames, fps=args.fps, max_frames=max_frames,
                                    workdir=args.workdir, dashboard=args.dashboard,
                                    hammer=max(0, args.hammer), flood_bytes=max(0, args.flood_kb) * 1024)
            lines[-1:-1] = e2e_summary_lines(result["e2e"], backend.name, (width, height))
    finally:
        backend.close()
    _report(lines, result, args.json)
    return 0


def _backend(args: argparse.Namespace) -> Any:
    if args.backend == "null":
        from ..backends.null_backend import NullBackend

        return NullBackend((args.input_size, args.input_size), defect_every=args.defect_every)
    from ..backends import BackendOptions, create_backend

    options = BackendOptions(threads=args.threads, precision=args.precision, max_batch=max(1, args.batch),
                             tiling=tiling_spec(args))
    return create_backend(args.backend, args.model, args.device, options)


def _bench_spool(args: argparse.Namespace) -> int:
    from ..bench.spool_bench import run_spool_benchmark, spool_summary_lines

    for fsync in ("normal", "full"):
        result = run_spool_benchmark(args.spool_dir, fsync, verdicts=max(100, args.frames))
        _report(spool_summary_lines(result), result, args.json)
    return 0


def _report(lines: list[str], result: dict[str, Any], json_path: Path | None) -> None:
    """Print the summary lines; append the result as one JSON line when asked."""
    import json

    for line in lines:
        print(line)
    if json_path is not None:
        with json_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
