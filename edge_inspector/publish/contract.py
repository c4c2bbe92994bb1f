"""The versioned MQTT event contract (v1). Documented for subscribers in docs/mqtt-contract.md.

Any change to keys or meaning bumps CONTRACT_VERSION; adding an optional key does not.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..types import Inspection, Verdict

CONTRACT_VERSION = 1
SCHEMA = "edge-inspector/verdict"
STATUS_SCHEMA = "edge-inspector/status"
ONLINE = "online"
OFFLINE = "offline"
REJECT_VERDICTS = frozenset({Verdict.FAIL, Verdict.FAULT})


@dataclass(frozen=True)
class Topics:
    """The three topics of one station: `{prefix}/{station}/verdict|reject|status`."""

    verdict: str  # every frame, QoS 1, not retained
    reject: str  # FAIL and FAULT only, QoS 1: the reject actuator subscribes here
    status: str  # retained online/offline (offline also as the last will)

    @property
    def wildcard(self) -> str:
        """Filter matching all three topics of the station."""
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
    return Topics(verdict=f"{base}/verdict", reject=f"{base}/reject", status=f"{base}/status")


def iso_utc(ts: float) -> str:
    """Epoch seconds -> ISO-8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number or None, got {number}")
    return number


def verdict_payload(inspection: Inspection, station_id: str) -> dict[str, Any]:
    """The JSON object published on the verdict (and reject) topic for one inspection.

    score is None exactly when the part could not be scored (FAULT without a score).
    """
    i = inspection
    return {
        "schema": SCHEMA,
        "version": CONTRACT_VERSION,
        "station": station_id,
        "seq": int(i.seq),
        "source_index": int(i.source_index),
        "frame": i.name,
        "captured_at": iso_utc(i.captured_at),
        "captured_ts": float(i.captured_at),
        "decided_at": iso_utc(i.decided_at),
        "latency_ms": round(float(i.latency_ms), 3),
        "verdict": Verdict(i.verdict).value,
        "score": _number(i.score, "score"),
        "threshold": _number(i.threshold, "threshold"),
        "boxes": [b.as_dict() for b in i.boxes],
        "reason": i.reason,
        "model_id": i.model_id,
    }


def status_payload(
    state: str, station_id: str, extra: dict[str, Any] | None = None, at: float | None = None
) -> dict[str, Any]:
    """The retained status object: state is "online" or "offline"; extra keys are merged in.

    `at` defaults to now; for the last will it is the time the will was registered (connect time).
    """
    if state not in (ONLINE, OFFLINE):
        raise ValueError(f"state: expected {ONLINE!r} or {OFFLINE!r}, got {state!r}")
    ts = time.time() if at is None else at
    payload: dict[str, Any] = {
        "schema": STATUS_SCHEMA,
        "version": CONTRACT_VERSION,
        "station": station_id,
        "state": state,
        "at": iso_utc(ts),
        "ts": ts,
    }
    for key, value in (extra or {}).items():
        if key in payload:
            raise ValueError(f"status extra: key {key!r} would overwrite a contract key")
        payload[key] = value
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (ValueError) because JSON has no such values."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
