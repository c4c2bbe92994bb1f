"""The MQTT event contract v1, and the audit log / evidence files that reuse it."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.publish import (
    CONTRACT_VERSION,
    SCHEMA,
    AuditLog,
    EvidenceWriter,
    encode,
    read_audit,
    status_payload,
    topics,
    verdict_payload,
)
from edge_inspector.types import Box, Inspection, Verdict

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = {"schema", "version", "station", "seq", "source_index", "frame", "captured_at", "captured_ts", "decided_at",
        "latency_ms", "verdict", "score", "threshold", "boxes", "reason", "model_id"}
CAPTURED = 1714564800.1234  # 2024-05-01T12:00:00.123Z


def inspection(verdict: Verdict = Verdict.FAIL, score: float | None = 0.8125, **kw: object) -> Inspection:
    fields: dict[str, object] = {
        "seq": 42, "source_index": 7, "name": "part_0007.png", "captured_at": CAPTURED, "decided_at": CAPTURED + 0.05,
        "verdict": verdict, "score": score, "threshold": 0.5, "boxes": (Box(10, 20, 30, 40, 340, 0.9),),
        "reason": "score 0.812 >= threshold 0.500; 1 region, largest 340 px", "latency_ms": 50.0, "model_id": "m1",
    }
    fields.update(kw)
    return Inspection(**fields)  # type: ignore[arg-type]


def test_verdict_payload_keys_and_types() -> None:
    p = verdict_payload(inspection(), "line1")
    assert set(p) == KEYS
    assert (p["schema"], p["version"], p["station"], p["seq"], p["source_index"]) == (SCHEMA, CONTRACT_VERSION,
                                                                                      "line1", 42, 7)
    assert p["frame"] == "part_0007.png" and p["verdict"] == "FAIL" and p["model_id"] == "m1"
    assert isinstance(p["score"], float) and isinstance(p["threshold"], float) and isinstance(p["latency_ms"], float)
    assert p["boxes"] == [{"x": 10, "y": 20, "w": 30, "h": 40, "area": 340, "peak": 0.9}]
    assert json.loads(encode(p)) == p, "survives the wire unchanged"


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    p = verdict_payload(inspection(), "line1")
    assert ISO.match(p["captured_at"]) and ISO.match(p["decided_at"])
    assert p["captured_at"] == "2024-05-01T12:00:00.123Z"
    assert p["captured_ts"] == CAPTURED
    parsed = datetime.fromisoformat(p["captured_at"].replace("Z", "+00:00")).timestamp()
    assert abs(parsed - CAPTURED) < 0.001


def test_fault_payload_has_null_score() -> None:
    p = verdict_payload(inspection(Verdict.FAULT, None, boxes=(), reason="frame not inspected: queue full"), "s")
    assert p["verdict"] == "FAULT" and p["score"] is None and p["boxes"] == []
    assert b'"score":null' in encode(p)


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="score: expected a finite number or None, got nan"):
        verdict_payload(inspection(score=math.nan), "s")
    with pytest.raises(ValueError):
        encode({"score": math.nan})


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": 1, "frame": "Prüfteil"}) == '{"a":1,"frame":"Prüfteil"}'.encode()


def test_topics() -> None:
    t = topics("edge-inspector", "line1")
    assert (t.verdict, t.reject, t.status) == (
        "edge-inspector/line1/verdict", "edge-inspector/line1/reject", "edge-inspector/line1/status")
    assert t.wildcard == "edge-inspector/line1/#"
    assert topics("plant/a", "s").verdict == "plant/a/s/verdict"


@pytest.mark.parametrize(("prefix", "station"), [("", "s"), ("p", ""), ("p/#", "s"), ("p", "s+"), ("p", "a/b")])
def test_topics_refuse_wildcards_and_empty_parts(prefix: str, station: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        topics(prefix, station)


def test_status_payload() -> None:
    p = status_payload("online", "line1", {"model_id": "m1"}, at=CAPTURED)
    assert p == {"schema": "edge-inspector/status", "version": 1, "station": "line1", "state": "online",
                 "at": "2024-05-01T12:00:00.123Z", "ts": CAPTURED, "model_id": "m1"}
    with pytest.raises(ValueError, match="expected 'online' or 'offline', got 'up'"):
        status_payload("up", "line1")


def test_audit_log_is_the_contract_payload_plus_evidence(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.write(inspection(seq=1), "line1", evidence=tmp_path / "e.png")
        audit.write(inspection(Verdict.FAULT, None, seq=2), "line1")
        assert len(read_audit(path)) == 2, "each line is on disk as soon as it is written"
    records = read_audit(path)
    assert [r["seq"] for r in records] == [1, 2]
    assert records[0] == {**verdict_payload(inspection(seq=1), "line1"), "evidence": str(tmp_path / "e.png")}
    assert records[1]["evidence"] is None
    with path.open("a") as f:
        f.write('{"seq": 3, "verd')  # a crash mid-line
    assert [r["seq"] for r in read_audit(path)] == [1, 2]


def test_evidence_paths_and_policy(tmp_path: Path) -> None:
    frame = np.full((32, 32, 3), 100, np.uint8)
    annotated = np.full((32, 32, 3), 200, np.uint8)
    writer = EvidenceWriter(tmp_path, save_pass=False)
    fail = writer.write(inspection(image=frame), annotated)
    assert fail == tmp_path / "20240501" / "00000042_FAIL.png"
    assert (tmp_path / "20240501" / "00000042_FAIL_raw.png").exists()
    saved = cv2.imread(str(fail))
    assert saved is not None and saved[0, 0].tolist() == [200, 200, 200]
    assert writer.write(inspection(Verdict.PASS, 0.1, image=frame), annotated) is None
    assert writer.write(inspection(Verdict.FAULT, None, seq=5), None) is None, "a dropped frame has no image"
    fault = writer.write(inspection(Verdict.FAULT, None, seq=6, image=frame), annotated)
    assert fault is not None and fault.name == "00000006_FAULT.png"
    assert writer.written == 3
    keep_all = EvidenceWriter(tmp_path / "all", save_pass=True)
    assert keep_all.write(inspection(Verdict.PASS, 0.1, image=frame), annotated) is not None
