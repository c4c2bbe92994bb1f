"""Checked readers of the two MQTT objects the OPC UA server consumes: verdict and status (contract 2).

The verdict is read by the one contract-2 reader every subscriber shares (publish/verdict_reader.py); the
retained status object, which only this server reads, is checked here with the same field checkers
(publish/message_fields.py): size before decoding, then every key the server uses type-checked and bounded.
Anything else raises MessageError with a short `kind` (for counting) and a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config.redact import cap
from ..publish.message_fields import MessageError, decode, field, header, instant, optional, optional_text
from ..publish.verdict_reader import VERDICTS, ContractVerdict, read_verdict
from ..types import Box

__all__ = ["VERDICTS", "Box", "MessageError", "Status", "Verdict", "parse_status", "parse_verdict"]

Verdict = ContractVerdict  # the fields of one verdict the OPC UA result carries
STATUS_LIMITS = {"model_id": 256, "detail": 512, "state": 32, "reason": 512, "product": 64}


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


def parse_verdict(payload: bytes, station: str, limit: int) -> Verdict:
    """A checked Verdict of `station` from one `…/verdict` message (publish/verdict_reader.py)."""
    return read_verdict(payload, station, limit)


def parse_status(payload: bytes, station: str, limit: int) -> Status:
    """A checked Status of `station` from one retained `…/status` message (see module doc)."""
    d = decode(payload, limit)
    run_id = header(d, "edge-inspector/status", station)
    state = field(d, "state", str)
    if state not in ("online", "offline"):
        raise MessageError("schema", f"state: expected online or offline, got {cap(state, 40)}")
    capture = optional(d, "capture", dict) or {}
    scorer = optional(d, "scorer", dict) or {}
    profile = optional(d, "profile", dict) or {}
    revision = profile.get("revision")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)
                                 or not 0 <= revision < 2**31):  # an Int32 node
        raise MessageError("type", f"profile.revision: expected an integer 0..2**31-1, got {cap(revision, 40)}")
    return Status(
        station=station, run_id=run_id, state=state, clean=optional(d, "clean", bool),
        at=instant(d, "at"), model_id=_text(d, "model_id"),
        capture_state=_text(capture, "state"), capture_detail=_text(capture, "detail"),
        scorer_failed=scorer.get("state") == "failed", reason=_text(d, "reason"),
        profile_revision=revision, profile_product=_text(profile, "product"))


def _text(d: dict[str, object], key: str) -> str | None:
    return optional_text(d, key, STATUS_LIMITS[key])
