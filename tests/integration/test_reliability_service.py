"""The service side of reliability: disk trouble, SIGTERM under load, a stalled camera and the systemd
watchdog, and a soak that proves memory and file descriptors stay flat. Real processes and real sockets."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import DaemonProcess, audit_lines, wait_for, write_config
from helpers.mjpeg_server import MjpegServer

from edge_inspector.config import load_config
from edge_inspector.publish import Spool
from edge_inspector.publish.audit import read_audit_all
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def fill(disk: Path, leave: int) -> None:
    """Fill the file system until only about `leave` bytes are free."""
    free = shutil.disk_usage(disk).free
    with (disk / "filler.bin").open("wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_full_disk_for_evidence_and_audit_never_stops_verdicts(
    tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any, small_disk: Path,
) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=30, defect_rate=0.3, size=size, seed=31)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="disk",
                          source={"kind": "video", "path": str(video)},
                          output={"dir": str(small_disk), "save_pass_evidence": True, "min_free_mb": 0.0},
                          spool={"path": str(tmp_path / "spool.sqlite")})
    cfg = load_config(config)
    cfg.mqtt.topic_prefix = "ei-rel"
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/disk/verdict")
    daemon = Daemon(cfg)
    filled = threading.Event()

    def fill_after_five(inspection: Any) -> None:
        if inspection.seq == 4:
            fill(small_disk, leave=2048)
            filled.set()

    daemon._on_inspection = fill_after_five
    summary = daemon.run()
    got = sub.wait_for(30, 10)
    assert filled.is_set()
    assert [p["seq"] for _, p in got] == list(range(30)), "every verdict published although the disk is full"
    assert summary.sink_errors_by.get("evidence", 0) > 0 and summary.sink_errors_by.get("audit", 0) > 0, summary
    assert summary.frames == 30 and summary.capture_error is None


def test_blocked_output_paths_and_a_free_space_floor_are_counted_not_fatal(
    tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=10, defect_rate=0.5, size=size, seed=32)
    blocker = tmp_path / "blocked"
    blocker.write_text("a regular file where a folder should be")
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="blocked",
                          source={"kind": "video", "path": str(video)},
                          output={"evidence_dir": str(blocker / "evidence"), "save_pass_evidence": True},
                          mqtt={"stats_interval": 0.2})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/blocked/#")

    def broken_hook(inspection: Any) -> None:
        raise RuntimeError("the on_inspection hook is broken")

    summary = Daemon(load_config(config), on_inspection=broken_hook).run()
    assert [p["seq"] for t, p in sub.wait_for(10, 10, where=lambda t, p: t.endswith("/verdict"))] == list(range(10))
    assert summary.sink_errors_by.get("evidence") == 10 and summary.sink_errors_by.get("hook") == 10
    assert audit_lines(tmp_path / "out" / "audit.jsonl") == 10, "the other sinks still got every verdict"
    stats = [p for t, p in sub.wait_for(1, 5, where=lambda t, p: t.endswith("/stats"))]
    for p in stats:
        validate_message("x/stats", p)
    assert stats[-1]["sink_errors"]["evidence"] == 10 and stats[-1]["sink_errors"]["hook"] == 10, "published"
    floor = write_config(tmp_path / "f.yaml", model_dir=model_dir, broker=mosquitto_broker, station="floor",
                         source={"kind": "video", "path": str(video)},
                         output={"dir": str(tmp_path / "out2"), "save_pass_evidence": True,
                                 "min_free_mb": 1e9})  # more free space than any disk has
    daemon = Daemon(load_config(floor))
    summary = daemon.run()
    assert summary.frames == 10 and summary.sink_errors == 0
    assert daemon.summary.frames == 10
    assert not list((tmp_path / "out2" / "evidence").rglob("*.png")), "below the floor, evidence is skipped"


def test_sigterm_under_load_exits_0_in_grace_with_everything_delivered_or_spooled(
    tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=8, defect_rate=0.3, size=size, seed=33)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="term",
                          source={"kind": "video", "path": str(video), "loop": True, "queue_size": 8},
                          output={"shutdown_grace": 5.0})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/term/#")
    daemon = DaemonProcess(config).start()
    audit = tmp_path / "out" / "audit.jsonl"
    try:
        assert wait_for(lambda: audit_lines(audit) >= 40, 90), daemon.output()[-3000:]
        code, took = daemon.terminate(timeout=30)
    finally:
        daemon.stop()
    assert code == 0, daemon.output()[-3000:]
    assert took < 5.0 + 2.0, f"stopped in {took:.1f} s, grace 5 s"
    decided = [(a["run_id"], a["seq"]) for a in read_audit_all(audit)]
    assert [s for _, s in decided] == list(range(len(decided))), "no verdict skipped at shutdown"
    spool = Spool(tmp_path / "out" / "spool.sqlite")
    spooled = {(e.run_id, e.seq) for e in spool.pending(limit=100_000)}
    spool.close()
    sub.wait_for(1, 5, where=lambda t, p: t.endswith("/status") and p["state"] == "offline")
    delivered = {(p["run_id"], p["seq"]) for t, p in sub.messages if t.endswith("/verdict")}
    assert set(decided) <= delivered | spooled, "every decided verdict was delivered or kept in the spool"
    offline = [p for t, p in sub.messages if t.endswith("/status") and p["state"] == "offline"]
    assert offline and offline[-1]["clean"] is True
    for topic, payload in sub.messages:
        validate_message(topic, payload)
    print(f"SIGTERM: exit 0 after {took:.2f} s; {len(decided)} verdicts, {len(spooled)} left in the spool")


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket collecting (time, message) pairs."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ei-notify-")  # short: AF_UNIX paths are limited to 108 bytes
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def times(self, message: str) -> list[float]:
        return [t for t, m in list(self.messages) if m == message]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_stalled_camera_stops_the_watchdog_and_is_published(
    tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
) -> None:
    model_dir, _, size = trained_model
    camera = MjpegServer(fps=20, size=size, quiet_after=80).start()  # about 4 s of frames, then it hangs
    notify = NotifySocket()
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="stall",
                          source={"kind": "url", "url": camera.url, "stall_seconds": 1.5, "read_timeout_ms": 1000,
                                  "open_timeout_ms": 1000, "reconnect_seconds": 0.5},
                          mqtt={"stats_interval": 0.5})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/stall/#")
    daemon = DaemonProcess(config, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}).start()
    try:
        assert wait_for(lambda: notify.times("READY=1"), 60), daemon.output()[-3000:]
        assert wait_for(lambda: len(notify.times("WATCHDOG=1")) >= 3, 20), "pings while frames flow"
        stalled = sub.wait_for(1, 30, where=lambda t, p: t.endswith("/status")
                               and p.get("capture", {}).get("state") in ("stalled", "reconnecting"))
        assert stalled, daemon.output()[-3000:]
        t_stall = time.monotonic()
        time.sleep(4.0)
        late = [t for t in notify.times("WATCHDOG=1") if t > t_stall + 0.6]
        assert not late, f"{len(late)} watchdog pings while the camera was stalled"
        assert daemon.alive(), "the daemon itself keeps running (systemd decides to restart it)"
        status_lines = [m for _, m in notify.messages if m.startswith("STATUS=")]
        code, _ = daemon.terminate(timeout=30)
    finally:
        daemon.stop()
        camera.kill()
        notify.close()
    assert code == 0, daemon.output()[-3000:]
    assert any("capture running" in m for m in status_lines), status_lines
    assert any("capture stalled" in m or "capture reconnecting" in m for m in status_lines), status_lines
    for topic, payload in sub.messages:
        validate_message(topic, payload)


def soak(tmp_path: Path, trained_model: Any, broker: Any, seconds: float, warmup: float,
         min_frames: int = 0) -> dict[str, Any]:
    """Sample RSS and descriptors once a second for `seconds`, and on until `min_frames` verdicts are audited
    (at most 10 x `seconds`): a slow or busy machine soaks longer instead of judging too few parts to show a
    leak."""
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=20, defect_rate=0.3, size=size, seed=34)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=broker, station="soak",
                          source={"kind": "video", "path": str(video), "loop": True},
                          mqtt={"stats_interval": 1.0})
    daemon = DaemonProcess(config).start()
    samples: list[tuple[float, int, int]] = []
    try:
        audit = tmp_path / "out" / "audit.jsonl"
        assert wait_for(lambda: audit_lines(audit) >= 1, 90), daemon.output()[-3000:]
        proc = psutil.Process(daemon.pid)
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds or (
                audit_lines(audit) < min_frames and elapsed < 10 * seconds):
            assert daemon.alive(), daemon.output()[-3000:]
            samples.append((time.monotonic() - t0, proc.memory_info().rss, proc.num_fds()))
            time.sleep(1.0)
        frames = audit_lines(audit)
        code, _ = daemon.terminate(timeout=30)
        assert code == 0
    finally:
        daemon.stop()
    after = [s for s in samples if s[0] >= warmup]
    first, last = after[:3], after[-3:]
    rss_growth = sorted(s[1] for s in last)[1] - sorted(s[1] for s in first)[1]
    half = len(after) // 2
    # Evidence writes and the retention janitor open files for a moment, so single samples peak by a few;
    # a leak raises the floor: the fewest descriptors seen in the second half above the first half's.
    fd_growth = min(s[2] for s in after[half:]) - min(s[2] for s in after[:half])
    return {"frames": frames, "rss_growth_mb": round(rss_growth / 2**20, 2), "fd_growth": fd_growth,
            "fds": sorted({s[2] for s in after}), "rss_mb": round(after[-1][1] / 2**20, 1), "samples": len(after)}


def test_soak_60_s_memory_and_descriptors_stay_flat(tmp_path: Path, trained_model: Any, mosquitto_broker: Any) -> None:
    # 500 parts or more, however long a busy machine needs for them (once it took 61 in 60 s: issue 18 item 13).
    result = soak(tmp_path, trained_model, mosquitto_broker, seconds=60, warmup=20, min_frames=500)
    print(f"soak 60 s: {result}")
    assert result["frames"] >= 500, result
    assert result["rss_growth_mb"] < 5.0, result
    assert result["fd_growth"] <= 0 and max(result["fds"]) - min(result["fds"]) <= 4, result


@pytest.mark.slow
def test_soak_30_min(tmp_path: Path, trained_model: Any, mosquitto_broker: Any) -> None:
    result = soak(tmp_path, trained_model, mosquitto_broker, seconds=1800, warmup=120)
    print(f"soak 30 min: {result}")
    assert result["rss_growth_mb"] < 5.0, result
    assert result["fd_growth"] <= 0 and max(result["fds"]) - min(result["fds"]) <= 4, result
