"""Checked readers of the two MQTT objects the OPC UA server consumes: verdict and status (contract 2).

Every message from the broker is untrusted input: its size is checked before it is decoded, then every key the
server uses is type-checked and bounded (docs/mqtt-contract.md and docs/schemas/). Anything else raises
MessageError with a short `kind` (for counting) and a one-line reason quoting at most a capped excerpt.
Unknown extra keys are ignored, as the contract asks of subscribers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..config.redact import cap
from .config_checks import NAME

VERDICTS = ("PASS", "FAIL", "FAULT")
MAX_BOXES = 1000  # a FAIL frame with more regions than this is not a frame this contract describes
TEXT_LIMITS = {"frame": 256, "reason": 512, "model_id": 256, "part_id": 128, "detail": 512, "state": 32}


class MessageError(ValueError):
    """A message the server will not use; `kind` counts it (oversize, json, schema, station, type)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Box:
    """One defect region in frame pixels, as in the verdict's `boxes`."""

    x: int
    y: int
    w: int
    h: int
    area: int
    peak: float


@dataclass(frozen=True)
class Verdict:
    """The fields of one verdict the OPC UA result carries."""

    station: str
    run_id: str
    seq: int
    verdict: str
    score: float | None
    threshold: float
    boxes: tuple[Box, ...]
    part_id: str | None
    frame: str
    captured_at: datetime
    decided_at: datetime
    latency_ms: float
    reason: str
    model_id: str
    replayed: bool

    @property
    def key(self) -> tuple[str, str, int]:
        """The contract's de-duplication key."""
        return (self.station, self.run_id, self.seq)


@dataclass(frozen=True)
class Status:
    """The fields of the retained status object the vision system's state is derived from."""

    station: str
    run_id: str
    state: str  # online / offline
    clean: bool | None
    at: datetime
    model_id: str | None
    capture_state: str | None
    capture_detail: str | None
    scorer_failed: bool
    reason: str | None
    profile_revision: int | None
    profile_product: str | None


def decode(payload: bytes, limit: int) -> dict[str, Any]:
    """The JSON object in `payload`; MessageError when it is over `limit` bytes (checked first), not UTF-8
    JSON, nested too deep, holds NaN/Infinity or is not an object."""
    if len(payload) > limit:
        raise MessageError("oversize", f"message of {len(payload)} bytes is over the limit of {limit}")
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MessageError("json", f"not UTF-8 JSON: {cap(str(exc), 120)}") from None
    if not isinstance(data, dict):
        raise MessageError("json", f"expected a JSON object, got {type(data).__name__}")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the contract allows")


def parse_verdict(payload: bytes, station: str, limit: int) -> Verdict:
    """A checked Verdict of `station` from one `…/verdict` message (see module doc)."""
    d = decode(payload, limit)
    _header(d, "edge-inspector/verdict", station)
    verdict = _get(d, "verdict", str)
    if verdict not in VERDICTS:
        raise MessageError("schema", f"verdict: expected one of {', '.join(VERDICTS)}, got {cap(verdict, 40)}")
    score = d.get("score")
    if score is not None:
        score = _number(d, "score")
    elif verdict != "FAULT":
        raise MessageError("schema", f"score: null only for a FAULT, got {verdict}")
    boxes = _get(d, "boxes", list)
    if len(boxes) > MAX_BOXES:
        raise MessageError("schema", f"boxes: {len(boxes)} regions, more than {MAX_BOXES}")
    part_id = d.get("part_id")
    return Verdict(
        station=station, run_id=d["run_id"], seq=_integer(d, "seq"), verdict=verdict, score=score,
        threshold=_number(d, "threshold"), boxes=tuple(_box(b, i) for i, b in enumerate(boxes)),
        part_id=None if part_id is None else _text(d, "part_id"), frame=_text(d, "frame"),
        captured_at=_epoch(d, "captured_ts"), decided_at=_instant(d, "decided_at"),
        latency_ms=_number(d, "latency_ms"), reason=_text(d, "reason"), model_id=_text(d, "model_id"),
        replayed=_get(d, "replayed", bool))


def parse_status(payload: bytes, station: str, limit: int) -> Status:
    """A checked Status of `station` from one retained `…/status` message (see module doc)."""
    d = decode(payload, limit)
    _header(d, "edge-inspector/status", station)
    state = _get(d, "state", str)
    if state not in ("online", "offline"):
        raise MessageError("schema", f"state: expected online or offline, got {cap(state, 40)}")
    capture = _optional(d, "capture", dict) or {}
    scorer = _optional(d, "scorer", dict) or {}
    profile = _optional(d, "profile", dict) or {}
    revision = profile.get("revision")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)
                                 or not 0 <= revision < 2**31):  # an Int32 node
        raise MessageError("type", f"profile.revision: expected an integer 0..2**31-1, got {cap(revision, 40)}")
    return Status(
        station=station, run_id=d["run_id"], state=state, clean=_optional(d, "clean", bool),
        at=_instant(d, "at"), model_id=_optional_text(d, "model_id"),
        capture_state=_optional_text(capture, "state"), capture_detail=_optional_text(capture, "detail"),
        scorer_failed=scorer.get("state") == "failed", reason=_optional_text(d, "reason"),
        profile_revision=revision, profile_product=_optional_text(profile, "product"))


def _header(d: dict[str, Any], schema: str, station: str) -> None:
    if d.get("schema") != schema:
        raise MessageError("schema", f"schema: expected {schema}, got {cap(d.get('schema'), 60)}")
    version = _integer(d, "version")
    if version != 2:
        raise MessageError("schema", f"version: this server reads contract 2, got {version}")
    if d.get("station") != station:
        raise MessageError("station", f"station: expected {station}, got {cap(d.get('station'), 60)}")
    run_id = _get(d, "run_id", str)
    if not NAME.match(run_id):
        raise MessageError("schema", f"run_id: expected 1-64 characters of A-Za-z0-9._-, got {cap(run_id, 80)}")


def _get(d: dict[str, Any], key: str, kind: type) -> Any:
    value = d.get(key)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise MessageError("type", f"{key}: expected {kind.__name__}, got {type(value).__name__} {cap(value, 60)}")
    return value


def _optional(d: dict[str, Any], key: str, kind: type) -> Any:
    return None if d.get(key) is None else _get(d, key, kind)


def _integer(d: dict[str, Any], key: str) -> int:
    value: int = _get(d, key, int)
    if not 0 <= value < 2**63:
        raise MessageError("type", f"{key}: expected 0 <= {key} < 2**63, got {cap(value, 40)}")
    return value


def _number(d: dict[str, Any], key: str) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MessageError("type", f"{key}: expected a finite number, got {cap(value, 60)}")
    return float(value)


def _text(d: dict[str, Any], key: str) -> str:
    value: str = _get(d, key, str)
    limit = TEXT_LIMITS.get(key, 64)
    if len(value) > limit:
        raise MessageError("schema", f"{key}: {len(value)} characters, more than {limit}")
    return value


def _optional_text(d: dict[str, Any], key: str) -> str | None:
    return None if d.get(key) is None else _text(d, key)


def _box(item: Any, index: int) -> Box:
    if not isinstance(item, dict):
        raise MessageError("type", f"boxes[{index}]: expected an object, got {type(item).__name__}")
    try:
        x, y, w, h, area = (_integer(item, k) for k in ("x", "y", "w", "h", "area"))
        return Box(x, y, w, h, area, _number(item, "peak"))
    except MessageError as exc:
        raise MessageError(exc.kind, f"boxes[{index}].{exc}") from None


def _epoch(d: dict[str, Any], key: str) -> datetime:
    try:
        return datetime.fromtimestamp(_number(d, key), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MessageError("type", f"{key}: {cap(d.get(key), 40)} is not a time") from None


def _instant(d: dict[str, Any], key: str) -> datetime:
    text = _get(d, key, str)
    try:
        if len(text) > 40:
            raise ValueError("too long")
        when = datetime.fromisoformat(text)
    except ValueError:
        raise MessageError("type", f"{key}: expected an ISO-8601 UTC time, got {cap(text, 60)}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
