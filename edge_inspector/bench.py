"""`edge-inspector bench`: latency and throughput of a model on a backend, with the machine recorded.

Measures the scorer alone (preprocess + inference + map resize) and, with --postprocess, the full
per-frame decision. Frames come from a video/folder when given, else from the synthetic generator.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .machine import describe_machine, machine_line
from .progress import ProgressBar
from .service.stats import LatencyStats


def add_bench(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="measure p50/p99 latency and throughput of a model",
                       description="Benchmark a model directory on a backend; prints p50/p99 latency, "
                       "throughput and the machine, optionally appends JSON to a file.")
    p.add_argument("--model", type=Path, required=True, help="model directory")
    p.add_argument("--backend", default="torch")
    p.add_argument("--device", default="auto")
    p.add_argument("--frames", type=int, default=100, help="timed frames")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--frame-size", type=int, default=None, help="side of the synthetic frames (default input size)")
    p.add_argument("--json", type=Path, default=None, help="append the result as one JSON line")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from .backends import create_backend
    from .config import InspectionConfig
    from .postprocess import postprocess
    from .synth import render_sample

    backend = create_backend(args.backend, args.model, args.device)
    meta = backend.metadata
    side = args.frame_size or meta.input_size[0]
    rng = np.random.default_rng(0)
    frames = [render_sample("brushed_metal", rng, size=side).image for _ in range(8)]
    for i in range(args.warmup):
        backend.infer([frames[i % len(frames)]])
    infer_ms: list[float] = []
    total_ms: list[float] = []
    bar = ProgressBar("bench")
    insp = InspectionConfig()
    start = time.perf_counter()
    for i in range(args.frames):
        t0 = time.perf_counter()
        amap = backend.infer([frames[i % len(frames)]])[0]
        t1 = time.perf_counter()
        postprocess(amap.map, amap.score, threshold=meta.image_threshold, pixel_threshold=meta.pixel_threshold,
                    cfg=insp)
        t2 = time.perf_counter()
        infer_ms.append((t1 - t0) * 1000)
        total_ms.append((t2 - t0) * 1000)
        bar.update(i + 1, args.frames)
    bar.close()
    seconds = time.perf_counter() - start
    machine = describe_machine()
    result = {
        "model": str(args.model), "model_id": backend.model_id, "kind": meta.kind, "backend": backend.name,
        "input_size": list(meta.input_size), "frame_size": side, "frames": args.frames,
        "scorer_ms": LatencyStats.of(infer_ms).__dict__, "frame_ms": LatencyStats.of(total_ms).__dict__,
        "throughput_fps": args.frames / seconds, "machine": machine,
    }
    print(f"model {backend.model_id} ({meta.kind}, input {meta.input_size[0]}x{meta.input_size[1]}) "
          f"on {backend.name}, {side}x{side} frames")
    print(f"scorer latency:           {LatencyStats.of(infer_ms)}")
    print(f"scorer + postprocess:     {LatencyStats.of(total_ms)}")
    print(f"throughput {args.frames / seconds:.1f} frames/s (batch 1, sequential)")
    print(f"machine: {machine_line(machine)}; {machine['date']}")
    if args.json is not None:
        with args.json.open("a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
    backend.close()
    return 0
