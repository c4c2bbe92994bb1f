"""The checks every subscriber applies to a contract-2 MQTT object it reads (verdict_reader.py, the OPC UA
server's status reader): the size before anything decodes it, strict JSON, then one checker per field type.

Every message from the broker is untrusted input. Anything wrong raises MessageError with a short `kind`
(oversize, json, schema, station, type: for counting) and a one-line reason quoting at most a capped excerpt.
Unknown extra keys are ignored, as the contract asks of subscribers (docs/mqtt-contract.md).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from ..config.redact import cap
from ..json_numbers import finite_float

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # docs/schemas/*.schema.json $defs.run_id
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_INT = 2**63  # integers are below this (a signed 64-bit value)


class MessageError(ValueError):
    """A message a subscriber will not use; `kind` counts it (oversize, json, schema, station, type)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def check_size(payload: bytes, limit: int) -> None:
    """MessageError (kind oversize) when `payload` is over `limit` bytes: checked before anything decodes it."""
    if len(payload) > limit:
        raise MessageError("oversize", f"message of {len(payload)} bytes is over the limit of {limit}")


def decode(payload: bytes, limit: int) -> dict[str, Any]:
    """The JSON object in `payload`; MessageError when it is over `limit` bytes (checked first), not UTF-8
    JSON, nested too deep, holds NaN/Infinity or is not an object."""
    check_size(payload, limit)
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a huge number, deep nesting
        raise MessageError("json", f"not UTF-8 JSON: {cap(str(exc) or type(exc).__name__, 120)}") from None
    if not isinstance(data, dict):
        raise MessageError("json", f"expected a JSON object, got {type(data).__name__}")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the contract allows")


def header(d: dict[str, Any], schema: str, station: str) -> str:
    """Checks schema, version 2, station and run_id; returns the run_id."""
    if d.get("schema") != schema:
        raise MessageError("schema", f"schema: expected {schema}, got {cap(d.get('schema'), 60)}")
    version = integer(d, "version")
    if version != 2:
        raise MessageError("schema", f"version: this reader reads contract 2, got {version}")
    if d.get("station") != station:
        raise MessageError("station", f"station: expected {station!r}, got {cap(d.get('station'), 60)}")
    run_id = field(d, "run_id", str)
    if not RUN_ID.match(run_id):
        raise MessageError("schema", f"run_id: expected 1-64 characters of A-Za-z0-9._-, got {cap(run_id, 80)}")
    return run_id


def field(d: dict[str, Any], key: str, kind: type) -> Any:
    """d[key] when it is a `kind` (a bool is never an int here); MessageError (type) otherwise or when missing."""
    value = d.get(key)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise MessageError("type", f"{key}: expected {kind.__name__}, got {type(value).__name__} {cap(value, 60)}")
    return value


def optional(d: dict[str, Any], key: str, kind: type) -> Any:
    """None when d[key] is missing or null, else field(d, key, kind)."""
    return None if d.get(key) is None else field(d, key, kind)


def integer(d: dict[str, Any], key: str, low: int = 0) -> int:
    """An integer `low` <= d[key] < 2**63."""
    value: int = field(d, key, int)
    if not low <= value < MAX_INT:
        raise MessageError("type", f"{key}: expected {low} <= {key} < 2**63, got {cap(value, 40)}")
    return value


def number(d: dict[str, Any], key: str) -> float:
    """A finite number (not a bool) as a float; an integer too large for a float is refused like NaN."""
    value = finite_float(d.get(key))
    if value is None:
        raise MessageError("type", f"{key}: expected a finite number, got {cap(d.get(key), 60)}")
    return value


def text(d: dict[str, Any], key: str, limit: int, *, min_len: int = 0, plain: bool = False) -> str:
    """A string of `min_len`..`limit` characters; with `plain`, one without control characters."""
    value: str = field(d, key, str)
    if not min_len <= len(value) <= limit:
        raise MessageError("schema", f"{key}: {len(value)} characters, expected {min_len} to {limit}")
    if plain and CONTROL.search(value):
        raise MessageError("schema", f"{key}: control characters in {cap(value, 80)}")
    return value


def optional_text(d: dict[str, Any], key: str, limit: int) -> str | None:
    """None when d[key] is missing or null, else text(d, key, limit)."""
    return None if d.get(key) is None else text(d, key, limit)


def epoch(d: dict[str, Any], key: str) -> datetime:
    """Epoch seconds (a finite number > 0) as an aware UTC datetime."""
    seconds = number(d, key)
    try:
        if seconds <= 0:
            raise ValueError("not after 1970")
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MessageError("type", f"{key}: {cap(d.get(key), 40)} is not a time in epoch seconds") from None


def instant(d: dict[str, Any], key: str) -> datetime:
    """An ISO-8601 time of at most 40 characters as an aware datetime (UTC when it names no zone)."""
    value = field(d, key, str)
    try:
        if len(value) > 40:
            raise ValueError("too long")
        when = datetime.fromisoformat(value)
    except ValueError:
        raise MessageError("type", f"{key}: expected an ISO-8601 UTC time, got {cap(value, 60)}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
