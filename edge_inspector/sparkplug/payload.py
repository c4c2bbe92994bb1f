"""The Sparkplug B payload subset this edge node speaks, in protobuf wire format written by hand.

Field numbers follow Eclipse Tahu's `sparkplug_b.proto`: Payload timestamp=1, metrics=2, seq=3; Metric
name=1, alias=2, timestamp=3, datatype=4, is_historical=5, is_null=7, int_value=10, long_value=11,
float_value=12, double_value=13, boolean_value=14, string_value=15. Writing the few dozen lines ourselves
keeps the daemon free of a protobuf runtime dependency; the tests decode our bytes with Tahu's generated
classes (pysparkplug), not with this module. The decoder is a bounded door: it reads NCMD messages from
the broker, so it checks the size first and every length against what is left, and raises PayloadError
(never anything else) on bytes it cannot read. Fields it does not know are skipped, as protobuf does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Sparkplug B data types (Tahu's DataType enum) used here
INT32, INT64, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME = 3, 4, 7, 8, 9, 10, 11, 12, 13
_INT_FIELD = {INT32: 10, UINT32: 10, INT64: 11, UINT64: 11, DATETIME: 11}
_BITS = {INT32: 32, UINT32: 32, INT64: 64, UINT64: 64, DATETIME: 64}
_SIGNED = (INT32, INT64)
_VALUE_WIRE = {10: 0, 11: 0, 12: 5, 13: 1, 14: 0, 15: 2}
MAX_PAYLOAD_BYTES = 65536  # an NCMD or our own message is a few hundred bytes
MAX_METRICS = 1000
_U64 = (1 << 64) - 1

Value = bool | int | float | str | None


class PayloadError(ValueError):
    """Bytes that are not a Sparkplug B payload this node can read (one line, no echo of the bytes)."""


@dataclass(frozen=True)
class Metric:
    """One metric: `value` None means null (is_null=true on the wire)."""

    name: str
    datatype: int
    value: Value = None
    timestamp: int | None = None  # ms since the epoch
    is_historical: bool = False
    alias: int | None = None


@dataclass(frozen=True)
class Payload:
    """A Sparkplug B payload: send time (ms), metrics, and the 0-255 seq (None for NDEATH)."""

    timestamp: int
    metrics: tuple[Metric, ...]
    seq: int | None = None


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= _U64
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _lenfield(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _uint(field: int, n: int) -> bytes:
    return _key(field, 0) + _varint(n)


def encode_metric(m: Metric) -> bytes:
    """One Metric message (without its outer length); raises ValueError for a value its type cannot hold."""
    out = bytearray()
    if m.name:
        out += _lenfield(1, m.name.encode("utf-8"))
    if m.alias is not None:
        out += _uint(2, m.alias)
    if m.timestamp is not None:
        out += _uint(3, m.timestamp)
    out += _uint(4, m.datatype)
    if m.is_historical:
        out += _uint(5, 1)
    if m.value is None:
        return bytes(out + _uint(7, 1))
    v, dt = m.value, m.datatype
    if dt in _INT_FIELD:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"metric {m.name}: type {dt} needs an int, got {type(v).__name__}")
        bits = _BITS[dt]
        low = -(1 << (bits - 1)) if dt in _SIGNED else 0
        high = (1 << (bits - 1)) - 1 if dt in _SIGNED else (1 << bits) - 1
        if not low <= v <= high:
            raise ValueError(f"metric {m.name}: {v} out of range for type {dt}")
        out += _uint(_INT_FIELD[dt], v & ((1 << bits) - 1))  # negative: two's complement, as Tahu does
    elif dt == FLOAT:
        out += _key(12, 5) + struct.pack("<f", float(v))  # type: ignore[arg-type]
    elif dt == DOUBLE:
        out += _key(13, 1) + struct.pack("<d", float(v))  # type: ignore[arg-type]
    elif dt == BOOLEAN:
        out += _uint(14, int(bool(v)))
    elif dt == STRING:
        out += _lenfield(15, str(v).encode("utf-8"))
    else:
        raise ValueError(f"metric {m.name}: data type {dt} not supported")
    return bytes(out)


def encode(p: Payload) -> bytes:
    """The payload's bytes: timestamp, metrics in order, then seq when it has one."""
    out = bytearray(_uint(1, p.timestamp))
    for m in p.metrics:
        out += _lenfield(2, encode_metric(m))
    if p.seq is not None:
        out += _uint(3, p.seq)
    return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field, wire type, value) for each field; varints and fixed ints as int, length-delimited as bytes."""
    out: list[tuple[int, int, int | bytes]] = []
    i, n = 0, len(data)

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            if i >= n or shift > 63:
                raise PayloadError("truncated or overlong varint")
            b = data[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value & _U64

    while i < n:
        key = varint()
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value = varint()
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if i + size > n:
                raise PayloadError("truncated fixed-width field")
            value = int.from_bytes(data[i:i + size], "little")
            i += size
        elif wire == 2:
            size = varint()
            if size > n - i:
                raise PayloadError("length beyond the end of the message")
            value, i = data[i:i + size], i + size
        else:
            raise PayloadError(f"unsupported wire type {wire}")
        if field == 0:
            raise PayloadError("field number 0")
        out.append((field, wire, value))
    return out


def _text(raw: int | bytes) -> str:
    if not isinstance(raw, bytes):
        raise PayloadError("a string field is not length-delimited")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("a string field is not UTF-8") from None


def _signed(n: int, bits: int) -> int:
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


def decode_metric(data: bytes) -> Metric:
    """One Metric message; raises PayloadError."""
    name, alias, ts, dt, hist, null, raw = "", None, None, 0, False, False, None
    for field, wire, value in _fields(data):
        if field == 1:
            name = _text(value)
        elif field in (2, 3, 4, 5, 7) and wire != 0:
            raise PayloadError(f"metric field {field} has wire type {wire}")
        elif field == 2:
            alias = int(value)  # type: ignore[arg-type]
        elif field == 3:
            ts = int(value)  # type: ignore[arg-type]
        elif field == 4:
            dt = int(value)  # type: ignore[arg-type]
        elif field == 5:
            hist = bool(value)
        elif field == 7:
            null = bool(value)
        elif 10 <= field <= 15:
            raw = (field, wire, value)
    val: Value = None
    if raw is not None and not null:
        field, wire, value = raw
        if wire != _VALUE_WIRE[field]:
            raise PayloadError(f"metric value field {field} has wire type {wire}")
        if field == 15:
            val = _text(value)
        elif isinstance(value, bytes):  # cannot happen after the wire check; keeps the types plain
            raise PayloadError(f"metric value field {field} is length-delimited")
        elif field == 14:
            val = bool(value)
        elif field == 12:
            val = struct.unpack("<f", value.to_bytes(4, "little"))[0]
        elif field == 13:
            val = struct.unpack("<d", value.to_bytes(8, "little"))[0]
        else:
            val = _signed(value, _BITS.get(dt, 64)) if dt in _SIGNED else value
    return Metric(name, dt, val, ts, hist, alias)


def decode(data: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> Payload:
    """Read a payload, checking its size before anything else; raises PayloadError."""
    if len(data) > max_bytes:
        raise PayloadError(f"{len(data)} bytes, more than the limit of {max_bytes}")
    ts: int = 0
    seq: int | None = None
    metrics: list[Metric] = []
    for field, wire, value in _fields(bytes(data)):
        if field == 2:
            if not isinstance(value, bytes):
                raise PayloadError("a metric is not length-delimited")
            if len(metrics) >= MAX_METRICS:
                raise PayloadError(f"more than {MAX_METRICS} metrics")
            metrics.append(decode_metric(value))
        elif field in (1, 3):
            if wire != 0:
                raise PayloadError(f"payload field {field} has wire type {wire}")
            if field == 1:
                ts = int(value)  # type: ignore[arg-type]
            else:
                seq = int(value)  # type: ignore[arg-type]
    return Payload(ts, tuple(metrics), seq)
