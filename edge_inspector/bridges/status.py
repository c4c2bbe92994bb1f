"""The bridge's own status, retained on `{prefix}/{station}/reject-bridge-status`, with an MQTT last will.

A PLC or a dashboard that reads it knows whether the ejector is driven at all (`state`, the will's
`clean: false` when the bridge died or lost the network), whether the output takes writes, and how many
verdicts were refused, late, replayed or duplicated."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

SCHEMA = "edge-inspector/reject-bridge-status"
VERSION = 1


def status_topic(prefix: str, station: str) -> str:
    # not …/reject-bridge/status: subscribers of …/# that pick the object by the last level would read it as the
    # station's own status object (docs/mqtt-contract.md)
    return f"{prefix}/{station}/reject-bridge-status"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def percentiles(samples: Iterable[float]) -> dict[str, float | int | None]:
    """n, p50, p99, max of a bounded window (nearest rank), rounded to 0.01 ms; None when empty."""
    values = sorted(samples)
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return round(values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))], 2)

    return {"n": len(values), "p50": rank(0.50), "p99": rank(0.99), "max": round(values[-1], 2)}


def status_payload(station: str, state: str, ts: float, *, clean: bool | None = None,
                   detail: dict[str, object] | None = None) -> bytes:
    """Compact JSON: schema, version, station, state (online/offline), at/ts, and the details when given."""
    obj: dict[str, object] = {"schema": SCHEMA, "version": VERSION, "station": station, "state": state,
                              "at": _iso(ts), "ts": round(ts, 3)}
    if clean is not None:
        obj["clean"] = clean
    if detail:
        obj.update(detail)
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
