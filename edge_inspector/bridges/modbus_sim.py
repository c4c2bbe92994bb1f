"""pymodbus's own Modbus TCP server as a stand-in remote-I/O module, recording each write with its arrival time.

    python -m edge_inspector.bridges.modbus_sim PORT LOG     # one JSON line per write: t, fc, address, value

Used by the jitter measurement (jitter_bench.py) and for trying a bridge config without hardware
(docs/deploy.md). Runs until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def serve(port: int, log: Path, host: str = "127.0.0.1") -> None:
    """Serve 16 coils and 16 holding registers of device 1 on host:port; append every write to `log`."""
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
    asyncio.run(StartAsyncTcpServer(device, address=(host, port), trace_pdu=trace_pdu))


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
