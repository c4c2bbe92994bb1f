"""Run the real daemon as systemd would: `python -m edge_inspector.cli run --config FILE` in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml


def write_config(path: Path, *, model_dir: Path, broker: Any, source: dict[str, Any], station: str = "rel",
                 **sections: dict[str, Any]) -> Path:
    """A station config for the tests: real model, real broker, output under path's folder; sections override."""
    cfg: dict[str, Any] = {
        "station_id": station,
        "source": source,
        "model": {"path": str(model_dir), "backend": "torch", "device": "cpu"},
        "inspection": {"min_defect_area": 4},
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "ei-rel", "reconnect_max_delay": 1.0,
                 "connect_timeout": 3.0},
        "output": {"dir": str(path.parent / "out")},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    path.write_text(yaml.safe_dump(cfg))
    return path


class DaemonProcess:
    """One `edge-inspector run` child; stdout/stderr go to files next to the config for post-mortems."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, name: str = "daemon",
                 python: Path | None = None) -> None:
        self.config = config
        self.python = str(python or sys.executable)  # another virtualenv's interpreter, e.g. one without torch
        self.log = config.parent / f"{name}.log"
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.python, "-m", "edge_inspector.cli", "run", "--config", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, env=self._env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM as systemd sends it; returns (exit code, seconds it took)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - t0

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Test cleanup: whatever state it is in, it is gone afterwards."""
        self.kill()


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll predicate until it is true or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def audit_lines(path: Path) -> int:
    """Complete lines in an audit log right now (0 when absent)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def verdicts(sub: Any) -> list[dict[str, Any]]:
    """The verdict payloads a test Subscriber (conftest.mqtt_subscriber) has received so far, in order."""
    return [p for t, p in list(sub.messages) if t.endswith("/verdict")]


def run_to_end(config: Path, sub: Any, n: int, *, env: dict[str, str] | None = None, timeout: float = 120.0,
               wait: float = 20.0) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Run the daemon over a finite source until it exits by itself (the test fails unless with 0); its log
    and the first `n` messages `sub` (a subscriber started before) received."""
    daemon = DaemonProcess(config, env={"OMP_NUM_THREADS": "1", **(env or {})}).start()
    try:
        code = daemon.wait(timeout=timeout)
    finally:
        daemon.stop()
    log = daemon.output()
    assert code == 0, log[-3000:]
    return log, sub.wait_for(n, wait)
