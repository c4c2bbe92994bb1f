"""pymodbus's own Modbus TCP server as the reject bridge's test peer, in a child process.

Every write request it receives (coil or holding register) is recorded with the wall-clock time it arrived,
one JSON line per write in a log file: {"t": epoch seconds, "fc": function code, "address": ..., "value": ...}.
The server is the product's own simulator (`python -m edge_inspector.bridges.modbus_sim PORT LOG`, the one
docs/deploy.md and the jitter benchmark use); ModbusPeer starts and stops it for a test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge_inspector.publish.broker import free_port


class ModbusPeer:
    """The server child; writes() reads back what it recorded."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"modbus-writes-{self.port}.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ModbusPeer:
        command = [sys.executable, "-m", "edge_inspector.bridges.modbus_sim", str(self.port), str(self.log)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                     stderr=(self.log.with_suffix(".err")).open("wb"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"modbus peer did not start: {self.log.with_suffix('.err').read_text()[-500:]}")

    def writes(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.endswith("}")]

    def coil_edges(self, address: int = 0) -> list[float]:
        """Times of the off->on writes of one coil (the rising edges an ejector valve sees)."""
        edges, state = [], False
        for w in self.writes():
            if w["fc"] == 5 and w["address"] == address:
                if w["value"] and not state:
                    edges.append(w["t"])
                state = bool(w["value"])
        return edges

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

