"""Run `python -m edge_inspector.cli reject-bridge --config FILE` as a child process, as systemd would, and read
back what it fired (its log names every pulse) and its retained status."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

FIRED = re.compile(r"fired (?P<what>.+?) planned (?P<planned>[0-9.]+) written (?P<written>[0-9.]+)")


def write_bridge_config(path: Path, *, broker: Any, modbus_port: int, station: str, prefix: str = "ei-rel",
                        delay_ms: float = 3000.0, pulse_ms: float = 10.0, announce: str = "verdicts",
                        encoder: dict[str, Any] | None = None) -> Path:
    """A bridge config driving coil 0 of the Modbus peer; `encoder`: encoder mode with that schedule.encoder."""
    cfg = {"station": station,
           "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix,
                    "client_id": f"rb-{station}-{os.getpid()}"},
           "schedule": ({"delay_ms": delay_ms, "pulse_ms": pulse_ms} if encoder is None
                        else {"mode": "encoder", "pulse_ms": pulse_ms, "encoder": encoder}),
           "parts": {"announce": announce},
           "output": {"kind": "modbus", "modbus": {"host": "127.0.0.1", "port": modbus_port, "address": 0}},
           "status": {"interval_s": 0.5}}
    path.write_text(yaml.safe_dump(cfg))
    return path


class BridgeProcess:
    def __init__(self, config: Path) -> None:
        self.config, self.log = config, config.parent / "reject-bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge_inspector.cli", "reject-bridge", "--config",
                                          str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def fired(self) -> list[dict[str, Any]]:
        """Every pulse the bridge's log names: what (e.g. `FAIL run/seq`), planned and written epoch times."""
        return [{"what": m["what"], "planned": float(m["planned"]), "written": float(m["written"])}
                for m in FIRED.finditer(self.log.read_text(errors="replace"))]

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
