"""Measure the reject bridge's firing error: synthetic verdicts through a real broker into the bridge (its own
process, as deployed), pulses into pymodbus's server; report p50/p99/max of (coil write arrival - planned time).

    python -m edge_inspector.bridges.jitter_bench --parts 3000 --rate 40

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

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ..evaluation.machine import describe_machine, machine_line
from ..publish.broker import LocalBroker, free_port
from .status import percentiles


def _verdict(seq: int, verdict: str, ts: float) -> bytes:
    return json.dumps({"schema": "edge-inspector/verdict", "version": 2, "station": "bench", "run_id": "bench-run",
                       "seq": seq, "source_index": seq, "frame": f"frame_{seq:06d}", "captured_at": "",
                       "captured_ts": ts,
                       "decided_at": "", "latency_ms": 0.0, "verdict": verdict, "score": 0.9, "threshold": 0.5,
                       "boxes": [], "reason": "bench", "model_id": "bench", "part_id": None,
                       "replayed": False}).encode()


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


def run(parts: int, rate: float, reject_rate: float, delay_ms: float, pulse_ms: float, seed: int) -> dict[str, object]:
    """Feed `parts` verdicts at `rate` per second; the measured firing error and the counts."""
    work = Path(tempfile.mkdtemp(prefix="ei-jitter-"))
    broker = LocalBroker(workdir=work / "broker").start()
    port, log = free_port(), work / "writes.jsonl"
    sim = subprocess.Popen([sys.executable, "-m", "edge_inspector.bridges.modbus_sim", str(port), str(log)])
    cfg = {"station": "bench", "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "ei-bench"},
           "schedule": {"delay_ms": delay_ms, "pulse_ms": pulse_ms},
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
    edges = [w["t"] for w in writes if w["fc"] == 5 and w["value"] == 1]
    # each rising edge belongs to the latest planned time at or before it (5 ms allowed for a write seen early
    # by the server's clock: it is the same clock, so none should be); pulses that merged have no edge of their own
    errors = []
    for e in edges:
        i = bisect.bisect_right(planned, e + 0.005) - 1
        if i >= 0:
            errors.append((e - planned[i]) * 1000)
    counts: dict[str, object] = status.get("counts", {}) if isinstance(status.get("counts"), dict) else {}  # type: ignore[assignment]
    return {"parts": parts, "rate_per_s": rate, "rejects": len(planned), "rising_edges": len(edges),
            "delay_ms": delay_ms, "pulse_ms": pulse_ms, "seed": seed,
            "server_write_minus_planned_ms": percentiles(errors), "min_ms": round(min(errors), 2) if errors else None,
            "bridge": {k: counts.get(k) for k in ("fired", "late", "invalid", "duplicates", "missing_scheduled")},
            "bridge_own_jitter_ms_last_4096": status.get("jitter_ms")}


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
    args = ap.parse_args(argv)
    result = run(args.parts, args.rate, args.reject_rate, args.delay_ms, args.pulse_ms, args.seed)
    print("machine:", machine_line(describe_machine(with_torch=False)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
