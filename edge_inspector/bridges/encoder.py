"""The belt's position for encoder mode: the encoder counter read over Modbus TCP, unwrapped, and a bounded ring
of (time, position) samples that places a part's capture time on the belt.

A remote-I/O counter is a 16- or 32-bit register (or two) that wraps; the reader turns each raw value into an
unbounded position by adding the signed difference to the previous raw value modulo 2**bits, which is right as
long as the belt moves less than half the counter's range between two polls (32,767 counts for 16 bits). The
ring keeps the samples of the last `history_s`; a run of samples with the same position (a stopped belt) is kept
as its first and last sample, so a long stop does not push the history out. Two samples further apart than
`stale_ms` (reads failed in between) are not interpolated across: a part captured in such a hole has no position
and is refused, never placed by a guess.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from typing import Any, Protocol

from ..errors import UserError
from .config import Encoder


class EncoderError(RuntimeError):
    """A read of the counter that failed (no connection, timeout, Modbus exception): counted and reported."""


def signed_delta(previous: int, raw: int, bits: int) -> int:
    """The belt's movement from raw counter value `previous` to `raw`, across a wrap: in [-2**(bits-1), 2**(bits-1))."""
    span = 1 << bits
    return (raw - previous + span // 2) % span - span // 2


def combine(words: list[int], bits: int, word_order: str) -> int:
    """The counter's raw value from its register(s): 32 bit big = high word first."""
    if bits == 16:
        return words[0] & 0xFFFF
    high, low = (words[0], words[1]) if word_order == "big" else (words[1], words[0])
    return ((high & 0xFFFF) << 16) | (low & 0xFFFF)


class PositionRing:
    """(time, position) samples of one encoder; add() from the polling thread, at() from any thread."""

    def __init__(self, bits: int, stale_s: float, max_samples: int) -> None:
        self.bits, self.stale_s = bits, stale_s
        self._lock = threading.Lock()
        self._t: deque[float] = deque(maxlen=max_samples)
        self._pos: deque[int] = deque(maxlen=max_samples)
        self._joined: deque[bool] = deque(maxlen=max_samples)  # False: a hole (stale) before this sample
        self._raw: int | None = None
        self.position: int | None = None  # the newest position

    def add(self, t: float, raw: int) -> tuple[int, bool]:
        """Record a raw read at epoch time t; the new position and whether it joins the previous sample (False
        for the first sample and the first after a hole longer than stale_s)."""
        with self._lock:
            joined = bool(self._t) and 0.0 <= t - self._t[-1] <= self.stale_s
            pos = raw if self._raw is None else self._pos[-1] + signed_delta(self._raw, raw, self.bits)
            self._raw, self.position = raw, pos
            if joined and len(self._pos) >= 2 and self._pos[-1] == pos == self._pos[-2] and self._joined[-1]:
                self._t[-1] = t  # a stopped belt: stretch the run instead of adding a sample
            else:
                self._t.append(t)
                self._pos.append(pos)
                self._joined.append(joined)
            return pos, joined

    def newest(self) -> tuple[float, int] | None:
        with self._lock:
            return (self._t[-1], self._pos[-1]) if self._t else None

    def here(self, now: float) -> int | None:
        """The belt's position now: the newest sample's, None when there is none younger than stale_s."""
        with self._lock:
            if not self._t or now - self._t[-1] > self.stale_s:
                return None
            return self._pos[-1]

    def at(self, t: float, now: float) -> float | None:
        """The position at epoch time t, interpolated between the samples around it. A time after the newest
        sample takes the newest position (a notice that beat the next poll, or a station clock slightly ahead)
        if that sample is fresh; None before the oldest sample, across a hole, or while the encoder is stale."""
        with self._lock:
            if not self._t or t < self._t[0]:
                return None
            if t >= self._t[-1]:
                return float(self._pos[-1]) if now - self._t[-1] <= self.stale_s else None
            i = bisect.bisect_right(self._t, t)  # self._t[i - 1] <= t < self._t[i]
            if not self._joined[i]:
                return None
            t0, t1, p0, p1 = self._t[i - 1], self._t[i], self._pos[i - 1], self._pos[i]
            return p0 + (p1 - p0) * (t - t0) / (t1 - t0) if t1 > t0 else float(p1)

    def __len__(self) -> int:
        return len(self._t)


class CounterReader(Protocol):
    """What the firing thread reads the belt from (ModbusEncoder; a test may pass its own)."""

    def read(self) -> int: ...
    def close(self) -> None: ...
    def describe(self) -> str: ...


class ModbusEncoder:
    """Reads the counter register(s) over Modbus TCP (pymodbus); reconnects on the next read after an error."""

    def __init__(self, cfg: Encoder) -> None:
        try:
            from pymodbus.client import ModbusTcpClient
            from pymodbus.exceptions import ModbusException
        except ImportError:
            raise UserError("schedule.mode encoder needs pymodbus: pip install 'edge-inspector[bridge]'") from None
        self.cfg = cfg
        self._errors: tuple[type[BaseException], ...] = (ModbusException, OSError)
        self._client: Any = ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)

    def read(self) -> int:
        """The counter's raw value; EncoderError when it cannot be read."""
        c, count = self.cfg, 1 if self.cfg.bits == 16 else 2
        try:
            if not self._client.connected and not self._client.connect():
                raise EncoderError(f"cannot connect to Modbus TCP {c.host}:{c.port}")
            read = self._client.read_input_registers if c.table == "input" else self._client.read_holding_registers
            reply = read(c.address, count=count, device_id=c.device_id)
        except self._errors as exc:
            self._client.close()
            raise EncoderError(f"encoder {self.describe()}: {exc}") from None
        if reply.isError() or len(getattr(reply, "registers", [])) < count:
            raise EncoderError(f"encoder {self.describe()}: {reply}")
        return combine(list(reply.registers), c.bits, c.word_order)

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        c = self.cfg
        return (f"modbus tcp://{c.host}:{c.port} device {c.device_id} {c.table} {c.address} "
                f"({c.bits} bit{', ' + c.word_order + ' word first' if c.bits == 32 else ''})")
