"""End-to-end benchmark: the real daemon from a frame in memory to the verdict at a real MQTT subscriber.

Frames (camera-sized, already in memory: no decoding is timed) go through the capture thread, the
bounded queue, the backend, postprocess and every sink (durable spool, MQTT sender, audit log,
evidence, annotation) to a private Mosquitto broker; a subscriber in this process takes the PLC's
place. Latency is the frame's capture time (`captured_ts` in the verdict) to the verdict's arrival at
the subscriber. The paced run (a camera at `fps`) measures latency, not queueing; the unpaced run
(the capture waits for queue space) measures the highest sustainable rate. With the NullBackend the
per-stage times are the pipeline's own overhead.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend
from ..evaluation.progress import ProgressBar
from ..publish.broker import LocalBroker, find_mosquitto
from ..service.stats import LatencyStats

TOPIC_PREFIX = "ei-bench"
STATION = "bench"


def run_pipeline(backend: Backend, images: list[np.ndarray], broker: LocalBroker, workdir: Path, *,
                 frames: int, fps: float | None, show_progress: bool = True, dashboard: bool = False,
                 hammer: int = 0, flood_bytes: int = 0) -> dict[str, Any]:
    """One daemon run over `frames` frames at `fps` (None: as fast as the pipeline takes them); with
    `dashboard`, the dashboard runs beside it and a simulated browser uses it the whole time; with `hammer`,
    that many clients request every read route as fast as it answers; with `flood_bytes`, messages of that
    size arrive on the command and trigger topics twice a second (bench/doors_load.py)."""
    from ..capture import MemorySource
    from ..publish.verdict_subscriber import VerdictSubscriber
    from ..service.daemon import Daemon
    from .doors_load import DoorsLoad, DoorsLoadProcess

    cfg = _config(broker, workdir, fps, dashboard or hammer > 0, doors=flood_bytes > 0)
    arrivals: list[tuple[int, float, float, str]] = []  # seq, captured_ts, arrival (wall clock), verdict
    label = f"e2e {fps:g} fps" if fps else "e2e fastest"
    bar = ProgressBar(label) if show_progress else None
    lock = threading.Lock()
    front: list[Any] = []  # the simulated browser and the load: halted at the last verdict, before the daemon
    # stops its dashboard, so a request is never sent to a server that has already closed

    def arrived(_topic: str, payload: dict[str, Any]) -> None:
        now = time.time()
        with lock:
            arrivals.append((int(payload["seq"]), float(payload["captured_ts"]), now, str(payload["verdict"])))
            done = len(arrivals)
        if bar is not None:
            bar.update(done, frames)
        if done >= frames:
            for client in front:
                client.halt()

    sub = VerdictSubscriber(broker.host, broker.port, f"{TOPIC_PREFIX}/{STATION}/verdict", on_message=arrived)
    sub.start()
    try:
        front_end = poller = load = None
        base = f"http://127.0.0.1:{cfg.dashboard.port}"
        if cfg.dashboard.enabled:
            from ..dashboard import start_dashboard

            front_end = start_dashboard(cfg.dashboard)
        if dashboard:
            from ..dashboard.load import DashboardPoller

            poller = DashboardPoller(base).start()
            front.append(poller)
        if hammer or flood_bytes:
            token = cfg.dashboard.token_file.read_text().strip() if cfg.dashboard.token_file else None
            prefix = f"{TOPIC_PREFIX}/{STATION}"
            load = DoorsLoadProcess(DoorsLoad(
                base=base if hammer else None, token=token, clients=hammer, broker=(broker.host, broker.port),
                topics=(f"{prefix}/command", f"{prefix}/trigger"), flood_bytes=flood_bytes)).start()
            front.append(load)
        daemon = Daemon(cfg, backend=backend, source=MemorySource(images, frames), front_end=front_end)
        load_counts = None
        try:
            summary = daemon.run()
        finally:
            if poller is not None:
                poller.stop()
            if load is not None:
                load_counts = load.stop()
        sub.wait_for(summary.frames, timeout=10.0)
    finally:
        sub.stop()
        if bar is not None:
            bar.close()
    with lock:
        got = sorted(arrivals)
    e2e = [(arrival - captured) * 1000.0 for _, captured, arrival, _ in got]
    stages = {name: stats.__dict__ for name, stats in summary.stages.items()}
    stages.update(_backend_stages(backend))
    return {
        "fps_target": fps, "frames": frames, "verdicts": summary.frames, "received": len(got),
        "received_in_order": [s for s, *_ in got] == list(range(len(got))),
        "pass": summary.passed, "fail": summary.failed, "fault": summary.faults, "dropped": summary.dropped,
        "seconds": summary.seconds, "throughput_fps": summary.frames / summary.seconds if summary.seconds else 0.0,
        "e2e_ms": LatencyStats.of(e2e).__dict__, "decision_ms": summary.latency.__dict__,
        "inference_ms": summary.inference.__dict__, "stages": stages,
        "evidence_files": sum(1 for _ in (workdir / "out" / "evidence").rglob("*.png")),
        "sink_errors": summary.sink_errors_by, "sink_drops": summary.sink_drops,
        "mqtt": summary.mqtt,
        "dashboard_requests": None if poller is None else {"sent": poller.requests, "failed": poller.failures},
        "doors_load": load_counts, "hammer_clients": hammer, "flood_bytes": flood_bytes,
    }


def run_e2e(backend: Backend, images: list[np.ndarray], *, frames: int, fps: float, max_frames: int = 0,
            workdir: Path | None = None, show_progress: bool = True, dashboard: bool = False, hammer: int = 0,
            flood_bytes: int = 0) -> dict[str, Any]:
    """A paced run at `fps`, then (max_frames > 0) an unpaced one for the highest sustainable rate; with
    `dashboard`, a third run paced like the first with the dashboard in use (`paced_dashboard`); with
    `hammer` or `flood_bytes`, paced runs under that load on the doors (`paced_hammer`, `paced_flood`).

    Starts a private Mosquitto; writes spool, audit and evidence under `workdir` (a temporary folder,
    removed afterwards, when None).
    """
    root = Path(tempfile.mkdtemp(prefix="ei-bench-")) if workdir is None else Path(workdir)
    try:
        with LocalBroker(workdir=root / "broker") as broker:
            result: dict[str, Any] = {
                "paced": run_pipeline(backend, images, broker, root / "paced", frames=frames, fps=fps,
                                      show_progress=show_progress),
            }
            if dashboard:
                result["paced_dashboard"] = run_pipeline(backend, images, broker, root / "paced-dashboard",
                                                         frames=frames, fps=fps, show_progress=show_progress,
                                                         dashboard=True)
            if hammer > 0:
                result["paced_hammer"] = run_pipeline(backend, images, broker, root / "paced-hammer",
                                                      frames=frames, fps=fps, show_progress=show_progress,
                                                      hammer=hammer)
            if flood_bytes > 0:
                result["paced_flood"] = run_pipeline(backend, images, broker, root / "paced-flood", frames=frames,
                                                     fps=fps, show_progress=show_progress, flood_bytes=flood_bytes)
            if max_frames > 0:
                result["fastest"] = run_pipeline(backend, images, broker, root / "fastest", frames=max_frames,
                                                 fps=None, show_progress=show_progress)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    result["mosquitto"] = mosquitto_version()
    return result


def _config(broker: LocalBroker, workdir: Path, fps: float | None, dashboard: bool = False,
            doors: bool = False) -> Any:
    """The bench daemon's config; `doors`: the command and trigger topics are subscribed."""
    from ..config import (
        Config,
        DashboardConfig,
        ModelConfig,
        MqttConfig,
        OutputConfig,
        SourceConfig,
        SpoolConfig,
        TriggerConfig,
    )

    out = workdir / "out"
    board = DashboardConfig()
    if dashboard:
        import secrets
        import socket

        token = workdir / "dashboard.token"
        token.parent.mkdir(parents=True, exist_ok=True)
        token.write_text(secrets.token_hex(16))
        token.chmod(0o600)  # the dashboard refuses a token file others can read
        with socket.socket() as probe:  # a free port for this run
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        board = DashboardConfig(enabled=True, port=port, token_file=token)
    return Config(
        station_id=STATION,
        source=SourceConfig(kind="video", pacing="realtime" if fps else "fastest", fps=fps),
        model=ModelConfig(path=workdir),  # the backend object is passed to the daemon; nothing is loaded
        mqtt=MqttConfig(host=broker.host, port=broker.port, topic_prefix=TOPIC_PREFIX, connect_timeout=5.0,
                        commands=doors),
        trigger=TriggerConfig(mode="mqtt" if doors else "off"),
        output=OutputConfig(dir=out, audit_log=out / "audit.jsonl", evidence_dir=out / "evidence"),
        spool=SpoolConfig(path=out / "spool.sqlite"),
        dashboard=board,
    )


def _backend_stages(backend: Backend) -> dict[str, Any]:
    """The NullBackend times its own preprocess and map-back steps; other backends report nothing here."""
    found = {}
    for name in ("preprocess", "map_back"):
        samples = getattr(backend, f"{name}_ms", None)
        if samples is not None:
            found[f"infer.{name}"] = LatencyStats.of(list(samples)).__dict__
    return found


def mosquitto_version() -> str | None:
    """`mosquitto version 2.0.11` as the binary reports it, or None."""
    binary = find_mosquitto()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].strip() if first else None


def e2e_summary_lines(result: dict[str, Any], backend_name: str, frame_size: tuple[int, int]) -> list[str]:
    """The human-readable report of a `run_e2e` result."""
    from ..service.stages import WORKER_STAGES

    paced = result["paced"]
    width, height = frame_size

    def stats(key: str) -> str:
        return str(LatencyStats(**paced[key]))

    def stage_list(names: list[str]) -> str:
        return ", ".join(f"{n} {paced['stages'][n]['mean']:.2f} ({paced['stages'][n]['n']})" for n in names)

    inspection = [n for n in paced["stages"] if n not in WORKER_STAGES and n != "inspect_total"]
    worker = [n for n in paced["stages"] if n in WORKER_STAGES]
    total = paced["stages"].get("inspect_total")
    lines = [
        f"pipeline on {backend_name}, {width}x{height} frames in memory, paced {paced['fps_target']:g} fps: "
        f"{paced['received']}/{paced['verdicts']} verdicts at the subscriber"
        f"{' in order' if paced['received_in_order'] else ' OUT OF ORDER'}; PASS {paced['pass']} "
        f"FAIL {paced['fail']} FAULT {paced['fault']} (dropped {paced['dropped']})",
        f"  capture -> verdict at the subscriber: {stats('e2e_ms')}",
        f"  capture -> verdict decided:           {stats('decision_ms')}",
        f"  inspection thread per frame:          {LatencyStats(**total) if total else 'n/a'}",
        f"  inspection thread, mean ms (calls):   {stage_list(inspection)}",
    ]
    if worker:
        lines.append(f"  image worker, mean ms (calls):        {stage_list(worker)}")
    if paced["sink_errors"] or paced["sink_drops"]:
        lines.append(f"  sink errors {paced['sink_errors']}, sink drops {paced['sink_drops']}")
    board = result.get("paced_dashboard")
    if board:
        sent = board["dashboard_requests"] or {"sent": 0, "failed": 0}
        lines.append(f"same run with the dashboard in use ({sent['sent']} requests, {sent['failed']} failed): "
                     f"capture -> subscriber {LatencyStats(**board['e2e_ms'])}; PASS {board['pass']} "
                     f"FAIL {board['fail']} FAULT {board['fault']} (dropped {board['dropped']})")
    for key, what in (("paced_hammer", "dashboard hammered"), ("paced_flood", "oversized messages arriving")):
        run = result.get(key)
        if run:
            counts = ", ".join(f"{k} {v}" for k, v in sorted((run["doors_load"] or {}).items())) or "nothing"
            lines.append(f"same run with the {what} ({counts}): capture -> subscriber "
                         f"{LatencyStats(**run['e2e_ms'])}; PASS {run['pass']} FAIL {run['fail']} "
                         f"FAULT {run['fault']} (dropped {run['dropped']})")
    fastest = result.get("fastest")
    if fastest:
        lines.append(f"highest sustained rate (capture waits for queue space): {fastest['throughput_fps']:.1f} "
                     f"frames/s over {fastest['verdicts']} frames, {fastest['received']} verdicts received"
                     + (f"; image sinks could not keep up: dropped {fastest['sink_drops']}"
                        if fastest["sink_drops"] else ""))
    lines.append(f"broker: {result.get('mosquitto') or 'mosquitto (version unknown)'}")
    return lines
