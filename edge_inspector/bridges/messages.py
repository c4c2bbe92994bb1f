"""Checking what arrives from the broker before the bridge acts on it (verdicts; triggers reuse the daemon's
parser). A message is a door: its size is checked before it is decoded, and only a verdict whose fields the
bridge uses all have the contract's types (docs/schemas/verdict.schema.json) is acted on."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..config.redact import cap

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
VERDICTS = ("PASS", "FAIL", "FAULT")
MAX_SEQ = 2**63 - 1


class MessageError(ValueError):
    """A message the bridge refuses; one line, any quoted value capped."""


@dataclass(frozen=True)
class Verdict:
    """The fields of a contract-2 verdict the bridge acts on."""

    station: str
    run_id: str
    seq: int
    captured_ts: float
    verdict: str
    replayed: bool
    part_id: str | None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.station, self.run_id, self.seq)

    @property
    def rejects(self) -> bool:
        return self.verdict in ("FAIL", "FAULT")  # FAULT fails closed (docs/mqtt-contract.md)


def check_size(payload: bytes, limit: int) -> None:
    """MessageError when a message is over `limit` bytes: checked before anything decodes it."""
    if len(payload) > limit:
        raise MessageError(f"message of {len(payload)} bytes, over the limit of {limit}")


def parse_verdict(payload: bytes, station: str, limit: int = 65536) -> Verdict:
    """A Verdict from one message on `{prefix}/{station}/verdict`; MessageError for anything else."""
    check_size(payload, limit)
    try:
        data: Any = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a huge number, deep nesting
        raise MessageError(f"not JSON: {cap(str(exc) or type(exc).__name__, 120)}") from None
    if not isinstance(data, dict):
        raise MessageError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema") != "edge-inspector/verdict" or data.get("version") != 2:
        raise MessageError(f"not a contract-2 verdict (schema {cap(data.get('schema'), 60)}, "
                           f"version {cap(data.get('version'), 20)})")
    if data.get("station") != station:
        raise MessageError(f"station: expected {station!r}, got {cap(data.get('station'), 80)}")
    run_id, seq, ts = data.get("run_id"), data.get("seq"), data.get("captured_ts")
    if not (isinstance(run_id, str) and _RUN_ID.match(run_id)):
        raise MessageError(f"run_id: expected 1-64 characters of A-Za-z0-9._-, got {cap(run_id, 80)}")
    if not (type(seq) is int and 0 <= seq <= MAX_SEQ):
        raise MessageError(f"seq: expected an integer >= 0, got {cap(seq, 40)}")
    if not (isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts) and ts > 0):
        raise MessageError(f"captured_ts: expected epoch seconds, got {cap(ts, 40)}")
    verdict, replayed, part_id = data.get("verdict"), data.get("replayed"), data.get("part_id")
    if verdict not in VERDICTS:
        raise MessageError(f"verdict: expected PASS, FAIL or FAULT, got {cap(verdict, 40)}")
    if not isinstance(replayed, bool):
        raise MessageError(f"replayed: expected true or false, got {cap(replayed, 40)}")
    if part_id is not None and not (isinstance(part_id, str) and 1 <= len(part_id) <= 128
                                    and not _CONTROL.search(part_id)):
        raise MessageError(f"part_id: expected null or 1-128 characters, got {cap(part_id, 80)}")
    return Verdict(station=station, run_id=run_id, seq=seq, captured_ts=float(ts), verdict=verdict,
                   replayed=replayed, part_id=part_id)
