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

    def __init__(self, workdir: Path, *sim_args: str) -> None:
        self.sim_args = sim_args  # e.g. --encoder-bits 16 --speed 4 (modbus_sim's belt encoder)
        self.port = free_port()
        self.log = workdir / f"modbus-writes-{self.port}.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ModbusPeer:
        command = [sys.executable, "-m", "edge_inspector.bridges.modbus_sim", str(self.port), str(self.log),
                   *self.sim_args]
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

    def edges_at_count(self, address: int = 0) -> list[tuple[float, int]]:
        """(time, unwrapped encoder count) of each off->on write of one coil, as the server saw them."""
        out, state = [], False
        for w in self.writes():
            if w["fc"] == 5 and w["address"] == address:
                if w["value"] and not state:
                    out.append((w["t"], w["total"]))
                state = bool(w["value"])
        return out

    def belt(self) -> list[tuple[float, int]]:
        """(time, unwrapped count) of every step of the simulated belt."""
        return [(w["t"], w["total"]) for w in self.writes() if w["fc"] == 0]

    def speed_set_at(self, rate: int) -> float:
        """When the belt last took speed `rate` (the simulator's own record, written as the change is applied:
        a write's arrival is logged before it is applied, and a read in between still steps at the old speed)."""
        return [w["t"] for w in self.writes() if w["fc"] == 0 and w.get("rate") == rate][-1]

    def set_register(self, address: int, value: int) -> float:
        """Write one holding register with the test's own Modbus client (the belt's speed is register 15);
        the server's arrival time of the write."""
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient("127.0.0.1", port=self.port, timeout=5.0)
        try:
            assert client.connect(), "modbus peer unreachable"
            assert not client.write_register(address, value, device_id=1).isError()
        finally:
            client.close()
        return [w["t"] for w in self.writes() if w["fc"] == 6 and w["address"] == address][-1]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

