"""`edge-inspector bench`: p50/p99 latency and throughput of a model; the measuring is in benchmark.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="measure p50/p99 latency and throughput of a model",
                       description="Benchmark a model directory on a backend; prints p50/p99 latency, "
                       "throughput and the machine, optionally appends JSON to a file.")
    p.add_argument("--model", type=Path, default=None, help="model directory (required unless --spool)")
    p.add_argument("--backend", default="torch")
    p.add_argument("--device", default="auto")
    p.add_argument("--frames", type=int, default=100, help="timed frames")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--frame-size", type=int, default=None, help="side of the synthetic frames (default input size)")
    p.add_argument("--json", type=Path, default=None, help="append the result as one JSON line")
    p.add_argument("--spool", action="store_true", help="measure the durable spool instead of a model: append "
                   "latency per verdict with fsync normal and full (no model needed)")
    p.add_argument("--spool-dir", type=Path, default=None, help="where the spool benchmark writes (default: the "
                   "temp dir; use the disk the daemon's state lives on)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.spool:
        return _bench_spool(args)
    if args.model is None:
        print("edge-inspector bench: error: --model is required (or --spool to measure the spool)", file=sys.stderr)
        return 2
    from ..benchmark import run_benchmark, summary_lines

    result = run_benchmark(args.model, args.backend, args.device, frames=args.frames, warmup=args.warmup,
                           frame_size=args.frame_size)
    _report(summary_lines(result), result, args.json)
    return 0


def _bench_spool(args: argparse.Namespace) -> int:
    from ..spool_bench import run_spool_benchmark, spool_summary_lines

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
