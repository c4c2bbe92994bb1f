"""The versioned MQTT event contract (v2). Documented for subscribers in docs/mqtt-contract.md.

Any change to keys or meaning bumps CONTRACT_VERSION; adding an optional key does not. The JSON
Schemas in docs/schemas/ describe the same objects; tests/unit/publish/test_contract.py holds both together.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..config.redact import cap_text, escape_non_utf8
from ..types import Inspection, Verdict
from .message_fields import RUN_ID

CONTRACT_VERSION = 2
SCHEMA = "edge-inspector/verdict"
STATUS_SCHEMA = "edge-inspector/status"
STATS_SCHEMA = "edge-inspector/stats"
COMMAND_RESPONSE_SCHEMA = "edge-inspector/command-response"
ONLINE = "online"
OFFLINE = "offline"
REJECT_VERDICTS = frozenset({Verdict.FAIL, Verdict.FAULT})
CAPTURE_STATES = frozenset({"starting", "running", "stalled", "reconnecting", "idle", "ended", "failed"})
# Keys of the body the service hands to stats_payload (each documented in docs/mqtt-contract.md).
STATS_BODY_KEYS = frozenset({
    "uptime_s", "interval_s", "frames", "verdicts", "fps", "latency_ms", "inference_ms", "drops", "capture",
    "spool", "mqtt", "sink_errors", "evidence",
})
STATS_OPTIONAL_KEYS = frozenset({"sparkplug"})  # only with sparkplug.enabled (added within contract 2)
_LATENCY_KEYS = ("latency_ms", "inference_ms")
# Free-text fields of a verdict, at most this many characters (docs/schemas/verdict.schema.json says so too):
# a frame name or a reason that came from a file name, a camera or the PLC cannot make a verdict huge.
TEXT_LIMITS = {"frame": 256, "reason": 512, "model_id": 256, "part_id": 128}
CUT_MARK = "...[cut]"  # ends a text that was cut to its limit
DEFECT_TYPE_NAME_LIMIT = 64  # characters of defect_type.name (a type classifier's class names are shorter)


@dataclass(frozen=True)
class Topics:
    """The topics of one station: `{prefix}/{station}/verdict|reject|status|stats|command|command/response|trigger|
    captured`."""

    verdict: str  # every frame, QoS 1, not retained
    reject: str  # FAIL and FAULT only, QoS 1: the reject actuator subscribes here
    status: str  # retained online/offline (offline also as the last will)
    stats: str  # periodic telemetry, QoS 0, not retained
    command: str = ""  # requests to the daemon (mqtt.commands), QoS 1; writable only by technicians (broker ACL)
    command_response: str = ""  # one response per request, QoS 1, not retained
    trigger: str = ""  # the PLC announces a part (trigger.mode mqtt), QoS 1
    captured: str = ""  # a notice per numbered frame, before its verdict (mqtt.announce_captures), QoS 1

    @property
    def wildcard(self) -> str:
        """Filter matching all topics of the station."""
        return self.verdict.rsplit("/", 1)[0] + "/#"


def _check_level(value: str, name: str) -> None:
    if not value or any(ch in value for ch in "+#\0") or value.startswith("/") or value.endswith("/"):
        raise ValueError(f"{name}: expected a non-empty MQTT topic part without '+', '#' or edge '/', got {value!r}")


def topics(prefix: str, station_id: str) -> Topics:
    """The station's topics; refuses wildcards and empty parts (they would publish nowhere useful)."""
    _check_level(prefix, "topic_prefix")
    _check_level(station_id, "station_id")
    if "/" in station_id:
        raise ValueError(f"station_id: expected one topic level without '/', got {station_id!r}")
    base = f"{prefix}/{station_id}"
    return Topics(verdict=f"{base}/verdict", reject=f"{base}/reject", status=f"{base}/status", stats=f"{base}/stats",
                  command=f"{base}/command", command_response=f"{base}/command/response", trigger=f"{base}/trigger",
                  captured=f"{base}/captured")


def iso_utc(ts: float) -> str:
    """Epoch seconds -> ISO-8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_run_id(run_id: str) -> str:
    # run_id ends up in evidence file names, so it is one safe path component
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ValueError(f"run_id: expected 1-64 characters of [A-Za-z0-9._-] starting alphanumeric, got {run_id!r}")
    return run_id


def _number(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number or None, got {number}")
    return number


def free_text(value: str, limit: int) -> str:
    """`value` as UTF-8-safe text of at most `limit` characters: lone surrogates (a file name that was not
    UTF-8, decoded with surrogateescape) become backslash escapes (`\\udcff`, as the sinks write them), and
    a longer text ends with CUT_MARK (config/redact.py holds both rules)."""
    return cap_text(escape_non_utf8(str(value)), limit, mark=CUT_MARK)


def _finite(value: float, name: str) -> float:
    number = _number(value, name)
    if number is None:
        raise ValueError(f"{name}: expected a finite number, got None")
    return number


def _time(value: float, name: str) -> str:
    """iso_utc() of a finite epoch time; ValueError (not OverflowError/OSError) for one no clock gives."""
    try:
        return iso_utc(_finite(value, name))
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name}: expected an epoch time in seconds, got {value!r}") from None


def verdict_payload(inspection: Inspection, station_id: str, run_id: str, *, replayed: bool = False) -> dict[str, Any]:
    """The JSON object published on the verdict (and reject) topic for one inspection.

    score is None exactly when the part could not be scored (FAULT without a score). replayed is True
    when the verdict is sent late from the spool (after an outage or a restart) with its original times.
    defect_type ({"name", "confidence"}) is there only for a FAIL named by model.defect_types.
    Free text (frame, reason, model_id, part_id) is capped by TEXT_LIMITS; a non-finite number is refused
    (ValueError): the daemon turns a non-finite score into a FAULT before it gets here.
    """
    i = inspection
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "version": CONTRACT_VERSION,
        "station": station_id,
        "run_id": _check_run_id(run_id),
        "seq": int(i.seq),
        "source_index": int(i.source_index),
        "frame": free_text(i.name, TEXT_LIMITS["frame"]),
        "captured_at": _time(i.captured_at, "captured_at"),
        "captured_ts": float(i.captured_at),
        "decided_at": _time(i.decided_at, "decided_at"),
        "latency_ms": round(_finite(i.latency_ms, "latency_ms"), 3),
        "verdict": Verdict(i.verdict).value,
        "score": _number(i.score, "score"),
        "threshold": _number(i.threshold, "threshold"),
        "boxes": [b.as_dict() for b in i.boxes],
        "reason": free_text(i.reason, TEXT_LIMITS["reason"]),
        "model_id": free_text(i.model_id, TEXT_LIMITS["model_id"]),
        "part_id": None if i.part_id is None else free_text(i.part_id, TEXT_LIMITS["part_id"]),
        "replayed": bool(replayed),
    }
    if i.defect_type is not None:  # FAIL with model.defect_types only: absent otherwise (an optional key)
        payload["defect_type"] = defect_type_payload(i.defect_type.name, i.defect_type.confidence)
    return payload


def defect_type_payload(name: str, confidence: float) -> dict[str, Any]:
    """The verdict's `defect_type` object: the name capped to DEFECT_TYPE_NAME_LIMIT, the confidence a finite
    probability (ValueError otherwise)."""
    value = _finite(confidence, "defect_type.confidence")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"defect_type.confidence: expected 0..1, got {value}")
    return {"name": free_text(name, DEFECT_TYPE_NAME_LIMIT), "confidence": round(value, 6)}


def _header(schema: str, station_id: str, run_id: str, at: float | None, **middle: Any) -> dict[str, Any]:
    """The keys every status and stats object starts with; `middle` (status: state) goes before the time."""
    ts = time.time() if at is None else float(at)
    return {
        "schema": schema,
        "version": CONTRACT_VERSION,
        "station": station_id,
        "run_id": _check_run_id(run_id),
        **middle,
        "at": iso_utc(ts),
        "ts": ts,
    }


def _merge(payload: dict[str, Any], extra: Mapping[str, Any], what: str) -> dict[str, Any]:
    for key, value in extra.items():
        if key in payload:
            raise ValueError(f"{what}: key {key!r} would overwrite a contract key")
        payload[key] = value
    return payload


def status_payload(
    state: str, station_id: str, run_id: str, extra: Mapping[str, Any] | None = None, at: float | None = None
) -> dict[str, Any]:
    """The retained status object: state is "online" or "offline"; extra keys are merged in.

    Documented extras: clean (offline only), model_id, capture {state, since, detail}, reason.
    `at` defaults to now; for the last will it is the time the will was registered (connect time).
    """
    if state not in (ONLINE, OFFLINE):
        raise ValueError(f"state: expected {ONLINE!r} or {OFFLINE!r}, got {state!r}")
    return _merge(_header(STATUS_SCHEMA, station_id, run_id, at, state=state), extra or {}, "status extra")


def _latency(value: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A latency summary with NaN/inf figures (no samples) turned into null; n stays an int."""
    out: dict[str, Any] = {"n": int(value["n"])}
    for key in ("p50", "p99", "mean", "max"):
        figure = value[key]
        if figure is not None:
            figure = float(figure)
            if not math.isfinite(figure):
                figure = None
        out[key] = figure
    unknown = set(value) - {"n", "p50", "p99", "mean", "max"}
    if unknown:
        raise ValueError(f"stats {name}: unexpected keys {sorted(unknown)}")
    return out


def stats_payload(station_id: str, run_id: str, body: Mapping[str, Any], at: float | None = None) -> dict[str, Any]:
    """The periodic telemetry object: the contract header merged with the service's body.

    body must have the keys in STATS_BODY_KEYS, and may have those in STATS_OPTIONAL_KEYS (ValueError names
    the missing or unknown ones).
    Latency figures that are NaN (a window without samples) become null; any other non-finite number
    is left for encode() to refuse.
    """
    missing, unknown = STATS_BODY_KEYS - set(body), set(body) - STATS_BODY_KEYS - STATS_OPTIONAL_KEYS
    if missing or unknown:
        raise ValueError(f"stats body: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    fixed = {k: (_latency(v, k) if k in _LATENCY_KEYS else v) for k, v in body.items()}
    return _merge(_header(STATS_SCHEMA, station_id, run_id, at), fixed, "stats body")


def command_response_payload(
    station_id: str, run_id: str, request_id: str | None, *, ok: bool, error: str | None,
    profile: Mapping[str, Any] | None, warnings: list[str], history: list[dict[str, Any]] | None = None,
    at: float | None = None,
) -> dict[str, Any]:
    """The answer to one command (docs/mqtt-contract.md, "Commands"): `profile` is the one in force
    after the command (None without a profile); `history` only for the history action."""
    payload = _header(COMMAND_RESPONSE_SCHEMA, station_id, run_id, at, id=request_id, ok=bool(ok), error=error)
    payload["profile"] = None if profile is None else dict(profile)
    if history is not None:
        payload["history"] = history
    payload["warnings"] = list(warnings)
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (ValueError) because JSON has no such values. A lone
    surrogate in a text (a name that was not UTF-8) becomes a backslash escape instead of failing the message."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return escape_non_utf8(text).encode("utf-8")
