"""Which metrics the edge node and its device carry, with their Sparkplug types, and how a verdict fills them.

The node (the station's daemon) carries the Sparkplug bookkeeping and a few properties; the device (the
inspection station) carries the last verdict, the counts, the camera state, the model and the profile
revision. Every metric is in the birth certificates with its type (null until it has a value); a verdict's
DDATA carries the `Inspection/…`, `Model/ID` and `Counts/…` metrics stamped with the capture time. The
input is the verdict's contract object (docs/mqtt-contract.md), the very bytes the outbox holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .payload import BOOLEAN, DATETIME, DOUBLE, INT32, INT64, STRING, UINT64, Value

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"

NODE_METRICS: dict[str, int] = {
    BD_SEQ: INT64,  # the spec's examples and Tahu use Int64 for bdSeq
    REBIRTH: BOOLEAN,
    "Properties/Station": STRING,
    "Properties/Run ID": STRING,
    "Properties/Software": STRING,
}

VERDICT_METRICS: dict[str, int] = {
    "Inspection/Verdict": STRING,  # PASS, FAIL or FAULT
    "Inspection/Reject": BOOLEAN,  # FAIL or FAULT: the part must go out (a FAULT fails closed)
    "Inspection/Score": DOUBLE,  # null for a FAULT that could not be scored
    "Inspection/Threshold": DOUBLE,
    "Inspection/Seq": UINT64,  # the contract's seq (per run_id), not Sparkplug's 0-255 seq
    "Inspection/Run ID": STRING,
    "Inspection/Part ID": STRING,
    "Inspection/Frame": STRING,
    "Inspection/Captured At": DATETIME,
    "Inspection/Latency ms": DOUBLE,
    "Inspection/Regions": INT32,
    "Inspection/Reason": STRING,
    "Model/ID": STRING,
    "Counts/Total": UINT64,
    "Counts/Pass": UINT64,
    "Counts/Fail": UINT64,
    "Counts/Fault": UINT64,
}

STATUS_METRICS: dict[str, int] = {
    "Camera/State": STRING,  # the contract status' capture.state: running, stalled, reconnecting ...
    "Profile/Revision": INT64,  # the calibration profile in force; null when thresholds come from config/model
}

DEVICE_METRICS: dict[str, int] = {**VERDICT_METRICS, **STATUS_METRICS}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def verdict_values(record: Mapping[str, Any]) -> dict[str, Value]:
    """The `Inspection/…` and `Model/ID` values of one verdict object (counts are the node's, not here)."""
    verdict = _text(record.get("verdict"))
    seq, boxes = record.get("seq"), record.get("boxes")
    captured = _num(record.get("captured_ts"))
    return {
        "Inspection/Verdict": verdict,
        "Inspection/Reject": verdict in ("FAIL", "FAULT") if verdict is not None else None,
        "Inspection/Score": _num(record.get("score")),
        "Inspection/Threshold": _num(record.get("threshold")),
        "Inspection/Seq": seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None,
        "Inspection/Run ID": _text(record.get("run_id")),
        "Inspection/Part ID": _text(record.get("part_id")),
        "Inspection/Frame": _text(record.get("frame")),
        "Inspection/Captured At": None if captured is None else round(captured * 1000),
        "Inspection/Latency ms": _num(record.get("latency_ms")),
        "Inspection/Regions": len(boxes) if isinstance(boxes, list) else None,
        "Inspection/Reason": _text(record.get("reason")),
        "Model/ID": _text(record.get("model_id")),
    }


def captured_ms(record: Mapping[str, Any], fallback_ms: int) -> int:
    """The verdict's capture time in ms since the epoch: the timestamp its DDATA carries."""
    captured = _num(record.get("captured_ts"))
    return fallback_ms if captured is None or captured < 0 else round(captured * 1000)


def status_values(extra: Mapping[str, Any]) -> dict[str, Value]:
    """Device metrics from the keys the daemon merges into its retained status (capture, model_id, profile)."""
    out: dict[str, Value] = {}
    capture = extra.get("capture")
    if isinstance(capture, Mapping) and isinstance(capture.get("state"), str):
        out["Camera/State"] = capture["state"]
    if isinstance(extra.get("model_id"), str):
        out["Model/ID"] = extra["model_id"]
    if "profile" in extra:
        profile = extra["profile"]
        revision = profile.get("revision") if isinstance(profile, Mapping) else None
        out["Profile/Revision"] = revision if isinstance(revision, int) and not isinstance(revision, bool) else None
    return out
