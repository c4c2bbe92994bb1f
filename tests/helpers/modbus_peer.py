"""pymodbus's own Modbus TCP server as the reject bridge's test peer, in a child process.

Every write request it receives (coil or holding register) is recorded with the wall-clock time it arrived,
one JSON line per write in a log file: {"t": epoch seconds, "fc": function code, "address": ..., "value": ...}.
Run as a script: `python tests/helpers/modbus_peer.py PORT LOG`; ModbusPeer starts and stops it for a test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ModbusPeer:
    """The server child; writes() reads back what it recorded."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"modbus-writes-{self.port}.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ModbusPeer:
        self.proc = subprocess.Popen([sys.executable, __file__, str(self.port), str(self.log)],
                                     stdout=subprocess.DEVNULL, stderr=(self.log.with_suffix(".err")).open("wb"))
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


def _serve(port: int, log: Path) -> None:
    import asyncio

    from pymodbus.server import StartAsyncTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    out = log.open("a", buffering=1)

    def trace_pdu(sending: bool, pdu: Any) -> Any:
        if not sending and pdu.function_code in (5, 6):  # write single coil / single register
            value = pdu.bits[0] if pdu.function_code == 5 else pdu.registers[0]
            out.write(json.dumps({"t": time.time(), "fc": pdu.function_code, "address": pdu.address,
                                  "value": int(value)}) + "\n")
        return pdu

    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    regs = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
    device = SimDevice(1, simdata=(bits, list(bits), regs, list(regs)))
    asyncio.run(StartAsyncTcpServer(device, address=("127.0.0.1", port), trace_pdu=trace_pdu))


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
