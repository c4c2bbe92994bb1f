"""What the durable spool costs per verdict (`edge-inspector bench --spool`): append latency p50/p99 and
throughput for a realistic verdict payload, with each fsync policy, on the disk the spool will live on."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ..evaluation.machine import describe_machine, machine_line
from ..evaluation.progress import ProgressBar
from ..publish import Spool, encode, verdict_payload
from ..service.stats import LatencyStats
from ..types import Box, Inspection, Verdict


def _payload(seq: int) -> bytes:
    now = time.time()
    inspection = Inspection(
        seq=seq, source_index=seq, name=f"frame_{seq:06d}", captured_at=now - 0.03, decided_at=now,
        verdict=Verdict.FAIL, score=0.8123, threshold=0.5, boxes=(Box(112, 64, 31, 22, 340, 0.913),),
        reason="score 0.812 >= threshold 0.500; 1 region, largest 340 px", latency_ms=31.4,
        model_id="bottle-scratch-20261126-1a2b3c",
    )
    return encode(verdict_payload(inspection, "line1", "20261129T231500Z-3fa9c1"))


def run_spool_benchmark(
    directory: Path | None, fsync: str, verdicts: int, show_progress: bool = True
) -> dict[str, Any]:
    """Append `verdicts` payloads one by one (as the inspection thread does), deleting them in batches of
    100 as the sender does on PUBACK; returns a JSON-ready dict."""
    with tempfile.TemporaryDirectory(dir=directory, prefix="ei-spool-bench-") as tmp:
        spool = Spool(Path(tmp) / "spool.sqlite", fsync=fsync)
        payload_bytes = len(_payload(0))
        append_ms: list[float] = []
        ids: list[int] = []
        bar = ProgressBar(f"spool {fsync}") if show_progress else None
        start = time.perf_counter()
        for seq in range(verdicts):
            payload = _payload(seq)
            t0 = time.perf_counter()
            ids.append(spool.append("bench", seq, payload, reject=True))
            append_ms.append((time.perf_counter() - t0) * 1000.0)
            if len(ids) >= 100:
                spool.mark_delivered(ids)
                ids = []
            if bar is not None:
                bar.update(seq + 1, verdicts)
        seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        spool.close()
    stats = LatencyStats.of(append_ms)
    return {
        "what": "spool append", "fsync": fsync, "verdicts": verdicts, "payload_bytes": payload_bytes,
        "directory": str(directory or tempfile.gettempdir()), "p50_ms": stats.p50, "p99_ms": stats.p99,
        "mean_ms": stats.mean, "max_ms": stats.max, "verdicts_per_s": verdicts / seconds,
        "machine": describe_machine(with_torch=False),
    }


def spool_summary_lines(result: dict[str, Any]) -> list[str]:
    """Human-readable lines for one spool benchmark result."""
    return [
        f"spool append, fsync {result['fsync']}, {result['verdicts']} verdicts of {result['payload_bytes']} bytes "
        f"in {result['directory']}",
        f"  p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms, max {result['max_ms']:.2f} ms; "
        f"{result['verdicts_per_s']:.0f} verdicts/s (including deletes on acknowledgement)",
        f"  machine: {machine_line(result['machine'])}",
    ]
