"""Model-only latency and throughput at batch 1 and a larger batch, with the machine recorded (`bench`).

Batch 1 times the scorer alone (preprocess + inference + map back to the frame) and the full per-frame
decision (scorer + postprocess); the larger batch times one `infer` call of `batch` frames. Frames
are synthetic parts at the requested frame size (`bench_frames`). The pipeline run (daemon, broker,
sinks) is in e2e.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..backends import Backend
from ..evaluation.machine import describe_machine, machine_line
from ..evaluation.progress import ProgressBar
from ..service.stats import LatencyStats


def parse_frame_size(text: str) -> tuple[int, int]:
    """"1280x1024" (width x height) or "256" (square) -> (width, height); ValueError otherwise."""
    parts = text.lower().split("x")
    try:
        width, height = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, 0)
    except ValueError:
        width = height = 0
    if width < 8 or height < 8:
        raise ValueError(f"frame size: expected WIDTHxHEIGHT (e.g. 1280x1024) or one side >= 8, got {text!r}")
    return width, height


def bench_frames(width: int, height: int, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """n synthetic brushed-metal parts as BGR frames of width x height; every fourth one has a defect."""
    from ..synth import render_sample
    from ..synth.defects import DEFECT_TYPES

    rng = np.random.default_rng(seed)
    side = min(width, height)
    frames = []
    for i in range(n):
        defect = DEFECT_TYPES[i % len(DEFECT_TYPES)] if i % 4 == 3 else None
        image = render_sample("brushed_metal", rng, size=side, defect_type=defect).image
        frames.append(image if (width, height) == (side, side) else cv2.resize(image, (width, height)))
    return frames


def folder_frames(folder: Path, width: int, height: int, n: int = 16) -> list[np.ndarray]:
    """Up to n images from a folder (recursively; an MVTec category dir: its test/ images), spread over it
    and resized to width x height: the line's own parts instead of synthetic ones."""
    from ..export.export_api import spread
    from ..training.data import image_files, read_bgr

    root = folder / "test" if (folder / "test").is_dir() else folder
    files = spread(image_files(root), n) if root.is_dir() else []
    if not files:
        raise FileNotFoundError(f"--images {folder}: no images found")
    return [cv2.resize(read_bgr(f), (width, height), interpolation=cv2.INTER_LINEAR) for f in files]


def run_model_benchmark(backend: Backend, frames: int = 100, warmup: int = 10, batch: int = 8,
                        frame_size: tuple[int, int] | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Time `frames` batch-1 calls and `frames // batch` calls of `batch` frames; returns a JSON-ready dict."""
    from ..config import InspectionConfig
    from ..postprocess import postprocess

    meta = backend.metadata
    width, height = frame_size or (meta.input_size[1], meta.input_size[0])
    images = bench_frames(width, height)
    for i in range(warmup):
        backend.infer([images[i % len(images)]])
    infer_ms: list[float] = []
    total_ms: list[float] = []
    insp = InspectionConfig()
    calls = max(1, frames // batch) if batch > 1 else 0
    bar = ProgressBar("bench model") if show_progress else None  # started after loading and warmup
    start = time.perf_counter()
    for i in range(frames):
        t0 = time.perf_counter()
        amap = backend.infer([images[i % len(images)]])[0]
        t1 = time.perf_counter()
        postprocess(amap.map, amap.score, threshold=meta.image_threshold, pixel_threshold=meta.pixel_threshold,
                    cfg=insp)
        t2 = time.perf_counter()
        infer_ms.append((t1 - t0) * 1000)
        total_ms.append((t2 - t0) * 1000)
        if bar is not None:
            bar.update(i + 1, frames + calls)
    seconds = time.perf_counter() - start
    batch_ms: list[float] = []
    if calls:
        chunk = [images[i % len(images)] for i in range(batch)]
        backend.infer(chunk)  # a new batch shape may allocate or autotune: not timed
        for i in range(calls):
            t0 = time.perf_counter()
            backend.infer(chunk)
            batch_ms.append((time.perf_counter() - t0) * 1000)
            if bar is not None:
                bar.update(frames + i + 1, frames + calls)
    if bar is not None:
        bar.close()
    return {
        "model_id": backend.model_id, "kind": meta.kind, "backend": backend.name,
        "input_size": list(meta.input_size), "frame_size": [width, height], "frames": frames,
        "scorer_ms": LatencyStats.of(infer_ms).__dict__, "frame_ms": LatencyStats.of(total_ms).__dict__,
        "throughput_fps": frames / seconds,
        "batch": batch, "batch_calls": calls, "batch_call_ms": LatencyStats.of(batch_ms).__dict__,
        "batch_throughput_fps": batch * calls / (sum(batch_ms) / 1000.0) if batch_ms else None,
        "machine": describe_machine(),
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The human-readable report of a `run_model_benchmark` result."""
    h, w = result["input_size"]
    fw, fh = result["frame_size"]
    machine = result["machine"]
    lines = [
        f"model {result['model_id']} ({result['kind']}, input {h}x{w}) on {result['backend']}, "
        f"precision {result.get('precision', 'n/a')}, {fw}x{fh} frames",
        f"batch 1 scorer latency:   {LatencyStats(**result['scorer_ms'])}",
        f"batch 1 scorer + postproc: {LatencyStats(**result['frame_ms'])}",
        f"batch 1 throughput {result['throughput_fps']:.1f} frames/s (sequential, incl. postprocess)",
    ]
    if result["batch_calls"]:
        lines += [f"batch {result['batch']} call latency:  {LatencyStats(**result['batch_call_ms'])}",
                  f"batch {result['batch']} throughput {result['batch_throughput_fps']:.1f} frames/s (scorer only)"]
    return lines + [f"machine: {machine_line(machine)}; {machine['date']}"]
