"""Measure the reject bridge's firing error: synthetic verdicts through a real broker into the bridge (its own
process, as deployed), pulses into pymodbus's server; report p50/p99/max of (coil write arrival - planned time).

    python -m edge_inspector.bridges.jitter_bench --parts 3000 --rate 40
    python -m edge_inspector.bridges.jitter_bench --parts 3000 --rate 40 --encoder-rate 2000 --counts 1000

The second is encoder mode: the simulator's 16-bit counter runs by the clock at `--encoder-rate` counts a second
(wrapping every 32.8 s at 2000/s), the bridge polls it every `--poll-ms` and fires `--counts` after each part's
capture; the error is in counts, (count when the coil write arrived) - (the belt's true count at captured_ts +
counts), the true count computed from the simulator's own record of when its belt started.

It starts a private Mosquitto, the Modbus simulator and `edge-inspector reject-bridge` as child processes, and
prints the machine, the parameters and the result (docs/benchmarks.md records a run).
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ..evaluation.machine import describe_machine, machine_line
from ..publish.broker import LocalBroker, free_port
from .status import _iso, percentiles


def _verdict(seq: int, verdict: str, ts: float) -> bytes:
    return json.dumps({"schema": "edge-inspector/verdict", "version": 2, "station": "bench", "run_id": "bench-run",
                       "seq": seq, "source_index": seq, "frame": f"frame_{seq:06d}", "captured_at": _iso(ts),
                       "captured_ts": ts, "decided_at": _iso(ts), "latency_ms": 0.0, "verdict": verdict,
                       "score": 0.9, "threshold": 0.5, "boxes": [], "reason": "bench", "model_id": "bench",
                       "part_id": None, "replayed": False}).encode()


def _bridge_process(config: Path) -> None:
    """The body of the bridge's process: what `edge-inspector reject-bridge --config FILE` runs."""
    import logging
    import threading

    from .bridge import RejectBridge
    from .config import load_bridge_config
    from .outputs import create_output

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_bridge_config(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    RejectBridge(cfg, create_output(cfg)).run(stop)


def _wait_port(port: int, timeout: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def run(parts: int, rate: float, reject_rate: float, delay_ms: float, pulse_ms: float, seed: int,
        encoder: dict[str, float] | None = None) -> dict[str, object]:
    """Feed `parts` verdicts at `rate` per second; the measured firing error and the counts. `encoder`
    (rate, counts, poll_ms): encoder mode instead of delay_ms."""
    work = Path(tempfile.mkdtemp(prefix="ei-jitter-"))
    broker = LocalBroker(workdir=work / "broker").start()
    port, log = free_port(), work / "writes.jsonl"
    belt = [] if encoder is None else ["--encoder-bits", "16", "--reads-per-step", "0", "--speed",
                                       str(int(encoder["rate"]))]
    sim = subprocess.Popen([sys.executable, "-m", "edge_inspector.bridges.modbus_sim", str(port), str(log), *belt])
    schedule: dict[str, object] = {"delay_ms": delay_ms, "pulse_ms": pulse_ms} if encoder is None else {
        "mode": "encoder", "pulse_ms": pulse_ms,
        "encoder": {"host": "127.0.0.1", "port": port, "address": 0, "bits": 16, "poll_ms": encoder["poll_ms"],
                    "counts_to_ejector": int(encoder["counts"]), "stale_ms": 200, "timeout_s": 0.1}}
    cfg = {"station": "bench", "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "ei-bench"},
           "schedule": schedule,
           "output": {"kind": "modbus", "modbus": {"host": "127.0.0.1", "port": port}}, "status": {"interval_s": 1}}
    (work / "bridge.yaml").write_text(yaml.safe_dump(cfg))
    # the bridge in a process of its own, as deployed (started here, not through the cli, which sits above bench)
    bridge = multiprocessing.get_context("spawn").Process(target=_bridge_process, args=(work / "bridge.yaml",))
    bridge.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ei-jitter-bench")
    planned: list[float] = []
    try:
        _wait_port(port)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        time.sleep(2.0)  # the bridge connects and subscribes
        rng = random.Random(seed)
        start = time.monotonic()
        for seq in range(parts):
            time.sleep(max(0.0, start + seq / rate - time.monotonic()))
            ts = time.time()
            verdict = "FAIL" if rng.random() < reject_rate else "PASS"
            if verdict == "FAIL":
                planned.append(ts + delay_ms / 1000)
            pub.publish("ei-bench/bench/verdict", _verdict(seq, verdict, ts), qos=1)
        time.sleep(delay_ms / 1000 + 2.0)
        status = _last_status(broker)
    finally:
        pub.loop_stop()
        bridge.terminate()  # SIGTERM: a clean stop
        bridge.join(timeout=30)
        sim.terminate()
        sim.wait(timeout=10)
        broker.stop()
    writes = [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]
    counts: dict[str, object] = status.get("counts", {}) if isinstance(status.get("counts"), dict) else {}  # type: ignore[assignment]
    if encoder is not None:
        return {"parts": parts, "rate_per_s": rate, "rejects": len(planned), "pulse_ms": pulse_ms, "seed": seed,
                **_count_errors(writes, planned, encoder, delay_ms / 1000),
                "bridge": {k: counts.get(k) for k in ("fired", "late", "no_position", "invalid", "duplicates")},
                "bridge_encoder": status.get("encoder")}
    edges = [w["t"] for w in writes if w["fc"] == 5 and w["value"] == 1]
    # each rising edge belongs to the latest planned time at or before it (5 ms allowed for a write seen early
    # by the server's clock: it is the same clock, so none should be); pulses that merged have no edge of their own
    errors = []
    for e in edges:
        i = bisect.bisect_right(planned, e + 0.005) - 1
        if i >= 0:
            errors.append((e - planned[i]) * 1000)
    return {"parts": parts, "rate_per_s": rate, "rejects": len(planned), "rising_edges": len(edges),
            "delay_ms": delay_ms, "pulse_ms": pulse_ms, "seed": seed,
            "server_write_minus_planned_ms": percentiles(errors), "min_ms": round(min(errors), 2) if errors else None,
            "bridge": {k: counts.get(k) for k in ("fired", "late", "invalid", "duplicates", "missing_scheduled")},
            "bridge_own_jitter_ms_last_4096": status.get("jitter_ms")}


def _count_errors(writes: list[dict[str, Any]], planned: list[float], encoder: dict[str, float],
                  delay_s: float) -> dict[str, object]:
    """Encoder mode: (belt count when each rising edge arrived) - (true count at its part's capture + counts)."""
    start = next(w for w in writes if w["fc"] == 0 and "rate" in w)  # the belt runs by the clock from here
    speed, counts = encoder["rate"], encoder["counts"]
    true_at = [start["total"] + speed * (ts - delay_s - start["t"]) + counts for ts in planned]  # firing counts
    edges = [w["total"] for w in writes if w["fc"] == 5 and w["value"] == 1]
    errors = []
    for e in edges:  # the latest firing count at or before the edge's (2 polls' travel allowed for a read early)
        i = bisect.bisect_right(true_at, e + 2 * speed * encoder["poll_ms"] / 1000) - 1
        if i >= 0:
            errors.append(e - true_at[i])
    return {"rising_edges": len(edges), "encoder_counts_per_s": speed, "counts_to_ejector": counts,
            "poll_ms": encoder["poll_ms"], "edge_count_minus_firing_count": percentiles(errors),
            "min_counts": round(min(errors), 2) if errors else None,
            "same_in_ms": percentiles(x / speed * 1000 for x in errors)}


def _last_status(broker: LocalBroker) -> dict[str, object]:
    """The bridge's retained status, read once (it refreshes every second)."""
    got: list[dict[str, object]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ei-jitter-status")
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    sub.connect(broker.host, broker.port)
    sub.subscribe("ei-bench/bench/reject-bridge-status", qos=1)
    sub.loop_start()
    time.sleep(2.5)
    sub.loop_stop()
    sub.disconnect()
    return got[-1] if got else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=40.0, help="parts per second")
    ap.add_argument("--reject-rate", type=float, default=0.8)
    ap.add_argument("--delay-ms", type=float, default=500.0)
    ap.add_argument("--pulse-ms", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoder-rate", type=float, default=None, help="encoder mode: the belt's counts per second")
    ap.add_argument("--counts", type=float, default=1000, help="encoder mode: counts_to_ejector")
    ap.add_argument("--poll-ms", type=float, default=2.0, help="encoder mode: the bridge's poll period")
    args = ap.parse_args(argv)
    encoder = None if args.encoder_rate is None else {"rate": args.encoder_rate, "counts": args.counts,
                                                      "poll_ms": args.poll_ms}
    result = run(args.parts, args.rate, args.reject_rate, args.delay_ms, args.pulse_ms, args.seed, encoder)
    print("machine:", machine_line(describe_machine(with_torch=False)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
