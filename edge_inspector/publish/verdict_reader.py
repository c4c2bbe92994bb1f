"""The one reader of an incoming contract-2 verdict (`{prefix}/{station}/verdict` or `.../reject`) for every
subscriber tool (reject bridge, OPC UA server): size checked before decoding, then every field the contract
defines (docs/mqtt-contract.md, docs/schemas/verdict.schema.json) checked for type and length, so a tool acts
only on a verdict it can trust field by field. Anything else raises message_fields.MessageError with a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.redact import cap
from ..types import Box, DefectType
from .message_fields import (
    MessageError,
    decode,
    epoch,
    field,
    header,
    instant,
    integer,
    number,
    text,
)

SCHEMA = "edge-inspector/verdict"
VERDICTS = ("PASS", "FAIL", "FAULT")
MAX_BOXES = 1000  # a FAIL frame with more regions than this is not a frame this contract describes
TEXT_LIMITS = {"frame": 256, "reason": 512, "model_id": 256}  # the schema's maxLength
PART_ID_LIMIT = 128
DEFECT_TYPE_NAME_LIMIT = 64  # defect_type.name's maxLength


@dataclass(frozen=True)
class ContractVerdict:
    """One checked verdict: the contract's fields, times as aware UTC datetimes (captured_ts also as is)."""

    station: str
    run_id: str
    seq: int
    source_index: int
    verdict: str
    score: float | None  # None only for a FAULT
    threshold: float
    boxes: tuple[Box, ...]
    part_id: str | None
    frame: str
    captured_ts: float
    captured_at: datetime  # from captured_ts
    decided_at: datetime
    latency_ms: float
    reason: str
    model_id: str
    replayed: bool
    defect_type: DefectType | None = None  # optional key: a FAIL named by the station's type classifier

    @property
    def key(self) -> tuple[str, str, int]:
        """The contract's de-duplication key."""
        return (self.station, self.run_id, self.seq)


def read_verdict(payload: bytes, station: str, limit: int) -> ContractVerdict:
    """A checked verdict of `station` from one message of at most `limit` bytes; MessageError for anything else."""
    d = decode(payload, limit)
    run_id = header(d, SCHEMA, station)
    verdict = field(d, "verdict", str)
    if verdict not in VERDICTS:
        raise MessageError("schema", f"verdict: expected one of {', '.join(VERDICTS)}, got {cap(verdict, 40)}")
    score = None if d.get("score") is None else number(d, "score")
    if score is None and verdict != "FAULT":
        raise MessageError("schema", f"score: null only for a FAULT, got {verdict}")
    boxes = field(d, "boxes", list)
    if len(boxes) > MAX_BOXES:
        raise MessageError("schema", f"boxes: {len(boxes)} regions, more than {MAX_BOXES}")
    part_id = None if d.get("part_id") is None else text(d, "part_id", PART_ID_LIMIT, min_len=1, plain=True)
    instant(d, "captured_at")  # checked; the time used is captured_ts, the same instant as a number
    return ContractVerdict(
        station=station, run_id=run_id, seq=integer(d, "seq"), source_index=integer(d, "source_index", low=-1),
        verdict=verdict, score=score, threshold=number(d, "threshold"),
        boxes=tuple(_box(b, i) for i, b in enumerate(boxes)), part_id=part_id,
        frame=text(d, "frame", TEXT_LIMITS["frame"]), captured_ts=number(d, "captured_ts"),
        captured_at=epoch(d, "captured_ts"), decided_at=instant(d, "decided_at"),
        latency_ms=number(d, "latency_ms"), reason=text(d, "reason", TEXT_LIMITS["reason"]),
        model_id=text(d, "model_id", TEXT_LIMITS["model_id"]), replayed=field(d, "replayed", bool),
        defect_type=_defect_type(d))


def _defect_type(d: dict[str, Any]) -> DefectType | None:
    """The optional `defect_type`: absent or null, or {"name": 1..64 plain characters, "confidence": 0..1}."""
    item = d.get("defect_type")
    if item is None:
        return None
    if not isinstance(item, dict):
        raise MessageError("type", f"defect_type: expected an object or null, got {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in ("name", "confidence"))
    if unknown:
        raise MessageError("schema", f"defect_type: unknown key {cap(unknown[0], 40)}")
    try:
        name = text(item, "name", DEFECT_TYPE_NAME_LIMIT, min_len=1, plain=True)
        confidence = number(item, "confidence")
    except MessageError as exc:
        raise MessageError(exc.kind, f"defect_type.{exc}") from None
    except OverflowError:  # an integer too large for a float (JSON allows any length)
        raise MessageError("type", "defect_type.confidence: expected a finite number, got a huge integer") from None
    if not 0.0 <= confidence <= 1.0:
        raise MessageError("schema", f"defect_type.confidence: expected 0 to 1, got {cap(confidence, 40)}")
    return DefectType(name, confidence)


def _box(item: Any, index: int) -> Box:
    if not isinstance(item, dict):
        raise MessageError("type", f"boxes[{index}]: expected an object, got {type(item).__name__}")
    try:
        x, y, w, h, area = (integer(item, k) for k in ("x", "y", "w", "h", "area"))
        return Box(x, y, w, h, area, number(item, "peak"))
    except MessageError as exc:
        raise MessageError(exc.kind, f"boxes[{index}].{exc}") from None
    except ValueError as exc:  # Box's own check: a region has a positive size (the schema's minimum 1)
        raise MessageError("schema", f"boxes[{index}]: {cap(str(exc), 120)}") from None
