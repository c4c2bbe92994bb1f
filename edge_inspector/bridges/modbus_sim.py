"""pymodbus's own Modbus TCP server as a stand-in remote-I/O module, recording each write with its arrival time,
with a belt encoder for the reject bridge's encoder mode.

    python -m edge_inspector.bridges.modbus_sim PORT LOG [--encoder-bits 16|32] [--encoder-start N]
                                                         [--reads-per-step M] [--speed S]

LOG gets one JSON line per write (t, fc, address, value, and `count`: the encoder's count when it arrived, `total`:
the same unwrapped) and one per belt step (`{"t", "fc": 0, "count", "total"}`). The encoder's counter is input
register 0 (16 bit) or 0-1 (32 bit, high word first), mirrored in holding registers 8(-9) with the low word
first. The belt moves in lockstep with its reader: every M-th read of the counter (failed ones too) advances it
by S counts first, so the count a reader sees, and the count when its next write arrives, do not depend on how
fast the machine is. S is holding register 15 (a client writes it to run, stop or change the belt's speed; 0
stops it); writing 1 to holding register 14 makes every counter read fail (a broken encoder input: the belt moves
on), 0 mends it; writing N to holding register 13 moves the belt N counts at once. With `--reads-per-step 0` the
belt runs by the clock instead, S counts a second (a real belt: the benchmark's). In both modes LOG gets a line
`{"t", "fc": 0, "total", "rate"}` when a speed takes effect (a write is logged as it arrives, before it applies).
Used by the jitter measurement (jitter_bench.py), the tests, and for trying a bridge config without hardware
(docs/deploy.md). Runs until killed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

SPEED_REGISTER, FAULT_REGISTER, JUMP_REGISTER, MIRROR = 15, 14, 13, 8  # holding registers


class Belt:
    """The encoder's count and the rules that move it; `log` records every step."""

    def __init__(self, bits: int, start: int, reads_per_step: int, speed: int, log: Any) -> None:
        self.bits, self.count, self.every, self.speed, self.log = bits, start % (1 << bits), reads_per_step, 0, log
        self.reads, self.fault, self.total = 0, False, self.count
        self.base, self.t_base = self.total, time.time()
        self.set_speed(speed)

    def set_speed(self, speed: int) -> None:
        self.advance()
        self.speed, self.base, self.t_base = speed, self.total, time.time()
        if self.log is not None:  # when the change took effect (a test's stop and resume times)
            self.log.write(json.dumps({"t": self.t_base, "fc": 0, "total": self.total, "rate": speed}) + "\n")

    def jump(self, counts: int) -> None:
        self.advance()
        self.total += counts
        self.base += counts
        self.count = self.total % (1 << self.bits)
        self.log.write(json.dumps({"t": time.time(), "fc": 0, "count": self.count, "total": self.total}) + "\n")

    def advance(self) -> None:
        """By the clock (reads_per_step 0): the count now."""
        if not self.every:
            self.total = self.base + int(self.speed * (time.time() - self.t_base))
            self.count = self.total % (1 << self.bits)

    def on_read(self) -> None:
        self.reads += 1
        self.advance()
        if self.every and self.speed and self.reads % self.every == 0:
            self.total += self.speed
            self.count = self.total % (1 << self.bits)
            self.log.write(json.dumps({"t": time.time(), "fc": 0, "count": self.count, "total": self.total}) + "\n")

    def words(self) -> list[int]:
        return [self.count] if self.bits == 16 else [self.count >> 16, self.count & 0xFFFF]


def serve(port: int, log: Path, host: str = "127.0.0.1", *, bits: int = 32, start: int = 0,
          reads_per_step: int = 2, speed: int = 0) -> None:
    """Serve 16 coils, 16 holding and 16 input registers of device 1 on host:port; append every write to `log`."""
    import asyncio

    from pymodbus.constants import ExcCodes
    from pymodbus.server import StartAsyncTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    out = log.open("a", buffering=1)
    belt = Belt(bits, start, reads_per_step, speed, out)
    n = 1 if bits == 16 else 2

    def trace_pdu(sending: bool, pdu: Any) -> Any:
        if not sending and pdu.function_code in (5, 6):  # write single coil / single register
            belt.advance()
            value = pdu.bits[0] if pdu.function_code == 5 else pdu.registers[0]
            out.write(json.dumps({"t": time.time(), "fc": pdu.function_code, "address": pdu.address,
                                  "value": int(value), "count": belt.count, "total": belt.total}) + "\n")
        return pdu

    async def action(fc: int, start_address: int, address: int, count: int, registers: list[int],
                     values: list[int] | list[bool] | None) -> Any:
        if values and fc in (6, 16):  # the test's controls
            for i, v in enumerate(values):
                if address + i == SPEED_REGISTER:
                    belt.set_speed(int(v))
                elif address + i == FAULT_REGISTER:
                    belt.fault = bool(v)
                elif address + i == JUMP_REGISTER:
                    belt.jump(int(v))
            return None
        reads_counter = (fc == 4 and address < n and address + count > 0) or (
            fc == 3 and address < MIRROR + n and address + count > MIRROR)
        if not reads_counter:
            return None
        belt.on_read()
        if belt.fault:
            return ExcCodes.DEVICE_FAILURE
        words = belt.words()
        base = 0 if fc == 4 else MIRROR
        for i, w in enumerate(words if fc == 4 else list(reversed(words))):
            registers[base + i - start_address] = w
        return None

    bits_block = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    holding = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
    inputs = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
    device = SimDevice(1, simdata=(bits_block, list(bits_block), holding, inputs), action=action)
    asyncio.run(StartAsyncTcpServer(device, address=(host, port), trace_pdu=trace_pdu))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("log", type=Path)
    ap.add_argument("--encoder-bits", type=int, choices=(16, 32), default=32)
    ap.add_argument("--encoder-start", type=int, default=0)
    ap.add_argument("--reads-per-step", type=int, default=2, help="0: the belt runs by the clock")
    ap.add_argument("--speed", type=int, default=0, help="counts per step at start (0: the belt stands)")
    a = ap.parse_args(argv)
    serve(a.port, a.log, bits=a.encoder_bits, start=a.encoder_start, reads_per_step=max(0, a.reads_per_step),
          speed=a.speed)


if __name__ == "__main__":
    main()
