"""Latency and throughput of a model on a backend, with the machine recorded (the `bench` verb's engine).

Measures the scorer alone (preprocess + inference + map resize) and the full per-frame decision
(scorer + postprocess). Frames come from the synthetic generator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .machine import describe_machine, machine_line
from .progress import ProgressBar
from .service.stats import LatencyStats


def run_benchmark(model: Path, backend_name: str = "torch", device: str = "auto", frames: int = 100,
                  warmup: int = 10, frame_size: int | None = None,
                  show_progress: bool = True) -> dict[str, Any]:
    """Time `frames` sequential batch-1 frames after `warmup` untimed ones; returns a JSON-ready dict."""
    from .backends import create_backend
    from .config import InspectionConfig
    from .postprocess import postprocess
    from .synth import render_sample

    backend = create_backend(backend_name, model, device)
    meta = backend.metadata
    side = frame_size or meta.input_size[0]
    rng = np.random.default_rng(0)
    images = [render_sample("brushed_metal", rng, size=side).image for _ in range(8)]
    for i in range(warmup):
        backend.infer([images[i % len(images)]])
    infer_ms: list[float] = []
    total_ms: list[float] = []
    insp = InspectionConfig()
    bar = ProgressBar("bench") if show_progress else None  # started after loading and warmup
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
            bar.update(i + 1, frames)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    result = {
        "model": str(model), "model_id": backend.model_id, "kind": meta.kind, "backend": backend.name,
        "input_size": list(meta.input_size), "frame_size": side, "frames": frames,
        "scorer_ms": LatencyStats.of(infer_ms).__dict__, "frame_ms": LatencyStats.of(total_ms).__dict__,
        "throughput_fps": frames / seconds, "machine": describe_machine(),
    }
    backend.close()
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The human-readable report of a `run_benchmark` result."""
    h, w = result["input_size"]
    side = result["frame_size"]
    machine = result["machine"]
    return [
        f"model {result['model_id']} ({result['kind']}, input {h}x{w}) on {result['backend']}, "
        f"{side}x{side} frames",
        f"scorer latency:           {LatencyStats(**result['scorer_ms'])}",
        f"scorer + postprocess:     {LatencyStats(**result['frame_ms'])}",
        f"throughput {result['throughput_fps']:.1f} frames/s (batch 1, sequential)",
        f"machine: {machine_line(machine)}; {machine['date']}",
    ]
