"""What a what-if replay and the live dashboard frame cost (`edge-inspector bench --what-if`).

The daemon keeps the last N camera-sized anomaly maps; a replay judges all of them again with the daemon's
postprocess, on the HTTP thread, once per slider move. Measured here on synthetic maps of the frame size:
smooth background below the thresholds, a defect blob on every third map, for two proposals (the image
threshold only; a pixel threshold low enough that every map forms regions, the expensive case).
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from ..config import InspectionConfig
from ..evaluation.machine import describe_machine, machine_line
from ..service.live_view import LiveView
from ..service.profile_settings import InspectionSettings
from ..service.stats import LatencyStats
from ..service.what_if import InspectionMemory, replay
from ..types import Inspection, Verdict


def _maps(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    maps = []
    for i in range(n):
        small = rng.random((height // 32, width // 32), dtype=np.float32) * 0.3
        amap = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, None)
        if i % 3 == 0:
            cv2.circle(amap, (width // 3 + 7 * i % 200, height // 2), 25, 0.9, -1)
        maps.append(amap.astype(np.float32))
    return maps


def run_what_if_benchmark(frames: int, width: int, height: int, repeats: int = 10) -> dict[str, Any]:
    """Replay p50/p99 over `repeats` for N=`frames` maps of width x height; and the live JPEG's cost."""
    memory = InspectionMemory(frames, max_bytes=frames * width * height * 4)
    for seq, amap in enumerate(_maps(frames, width, height)):
        memory.add(seq, f"frame_{seq:06d}", 0.9 if seq % 3 == 0 else 0.3,
                   Verdict.FAIL if seq % 3 == 0 else Verdict.PASS, amap)
    kept = memory.snapshot()
    cfg = InspectionConfig(min_defect_area=30)
    result: dict[str, Any] = {"what": "what-if replay", "frames": len(kept), "frame_size": [width, height],
                              "maps_mb": round(sum(k.anomaly_map.nbytes for k in kept) / 2**20, 1)}
    for name, proposal in (("image_threshold", InspectionSettings(0.5, 0.6, cfg)),
                           ("pixel_threshold_low", InspectionSettings(0.5, 0.05, cfg))):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            replay(kept, proposal)
            times.append((time.perf_counter() - t0) * 1000.0)
        stats = LatencyStats.of(times)
        result[name] = {"p50_ms": stats.p50, "p99_ms": stats.p99}
    live = LiveView()
    image = np.full((height, width, 3), 120, np.uint8)
    jpeg_ms = []
    for seq in range(repeats):
        live.observe(Inspection(seq=seq, source_index=seq, name="f", captured_at=0.0, decided_at=0.0,
                                verdict=Verdict.PASS, score=0.3, threshold=0.5, image=image,
                                anomaly_map=kept[seq % len(kept)].anomaly_map), None)
        t0 = time.perf_counter()
        live.frame_jpeg()
        jpeg_ms.append((time.perf_counter() - t0) * 1000.0)
    result["live_jpeg_p50_ms"] = LatencyStats.of(jpeg_ms).p50
    result["machine"] = describe_machine(with_torch=False)
    return result


def what_if_summary_lines(r: dict[str, Any]) -> list[str]:
    """Human-readable lines for one what-if benchmark result."""
    w, h = r["frame_size"]
    return [
        f"what-if replay of {r['frames']} kept maps of {w}x{h} ({r['maps_mb']} MB kept)",
        f"  image threshold only: p50 {r['image_threshold']['p50_ms']:.1f} ms, "
        f"p99 {r['image_threshold']['p99_ms']:.1f} ms",
        f"  pixel threshold low (regions in every map): p50 {r['pixel_threshold_low']['p50_ms']:.1f} ms, "
        f"p99 {r['pixel_threshold_low']['p99_ms']:.1f} ms",
        f"  live frame (annotate + JPEG, on request): p50 {r['live_jpeg_p50_ms']:.1f} ms",
        f"  machine: {machine_line(r['machine'])}",
    ]
