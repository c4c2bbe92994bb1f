"""The MQTT event contract v2, its JSON Schemas (docs/schemas/), and the audit log / evidence files that reuse it."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from contract_schemas import SCHEMA_FOR_LEVEL, load_schema, validate_message
from jsonschema import Draft202012Validator

from edge_inspector.publish import (
    CONTRACT_VERSION,
    SCHEMA,
    AuditLog,
    EvidenceWriter,
    encode,
    read_audit,
    stats_payload,
    status_payload,
    topics,
    verdict_payload,
)
from edge_inspector.publish.contract import CAPTURE_STATES, STATS_BODY_KEYS, STATS_SCHEMA
from edge_inspector.types import Box, Inspection, Verdict

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = {"schema", "version", "station", "run_id", "seq", "source_index", "frame", "captured_at", "captured_ts",
        "decided_at", "latency_ms", "verdict", "score", "threshold", "boxes", "reason", "model_id", "part_id",
        "replayed"}
CAPTURED = 1714564800.1234  # 2024-05-01T12:00:00.123Z
RUN = "20240501T115820Z-3fa9c1"
T = topics("edge-inspector", "line1")


def inspection(verdict: Verdict = Verdict.FAIL, score: float | None = 0.8125, **kw: object) -> Inspection:
    fields: dict[str, object] = {
        "seq": 42, "source_index": 7, "name": "part_0007.png", "captured_at": CAPTURED, "decided_at": CAPTURED + 0.05,
        "verdict": verdict, "score": score, "threshold": 0.5, "boxes": (Box(10, 20, 30, 40, 340, 0.9),),
        "reason": "score 0.812 >= threshold 0.500; 1 region, largest 340 px", "latency_ms": 50.0, "model_id": "m1",
    }
    fields.update(kw)
    return Inspection(**fields)  # type: ignore[arg-type]


def latency(n: int, p50: float = 40.0, p99: float = 61.5, mean: float = 41.2, top: float = 70.1) -> dict[str, Any]:
    if n == 0:
        return {"n": 0, "p50": math.nan, "p99": math.nan, "mean": math.nan, "max": math.nan}  # as LatencyStats.of([])
    return {"n": n, "p50": p50, "p99": p99, "mean": mean, "max": top}


def stats_body(n: int = 512) -> dict[str, Any]:
    """What the service builds every mqtt.stats_interval seconds."""
    return {
        "uptime_s": 3600.25, "interval_s": 10.0, "frames": 36012,
        "verdicts": {"PASS": 35890, "FAIL": 117, "FAULT": 5},
        "fps": 10.0 if n else 0.0, "latency_ms": latency(n), "inference_ms": latency(n, 22.0, 30.5, 22.4, 41.0),
        "drops": {"queue_full": 3, "unreadable": 1, "unsupported": 0},
        "capture": {"state": "running" if n else "stalled", "since": "2024-05-01T11:58:21.004Z", "detail": "rtsp://cam1",
                    "read_failures": 2, "reconnects": 1},
        "spool": {"depth": 0 if n else 41, "oldest_age_s": None if n else 12.5, "dropped_full": 0, "dropped_age": 0,
                  "write_errors": 0},
        "mqtt": {"connected": bool(n), "reconnects": 1, "published": 36050, "acknowledged": 36050, "inflight": 0},
        "sink_errors": {"evidence": 0, "audit": 0, "annotate": 1},
        "evidence": {"written": 239, "skipped_low_disk": 0, "pruned": 12},
    }


# --- verdict -----------------------------------------------------------------------------------------------------


def test_verdict_payload_keys_and_types() -> None:
    p = verdict_payload(inspection(), "line1", RUN)
    assert set(p) == KEYS
    assert (p["schema"], p["version"], p["station"], p["run_id"], p["seq"], p["source_index"]) == (
        SCHEMA, CONTRACT_VERSION, "line1", RUN, 42, 7)
    assert CONTRACT_VERSION == 2
    assert p["frame"] == "part_0007.png" and p["verdict"] == "FAIL" and p["model_id"] == "m1"
    assert isinstance(p["score"], float) and isinstance(p["threshold"], float) and isinstance(p["latency_ms"], float)
    assert p["boxes"] == [{"x": 10, "y": 20, "w": 30, "h": 40, "area": 340, "peak": 0.9}]
    assert p["replayed"] is False and p["part_id"] is None
    assert json.loads(encode(p)) == p, "survives the wire unchanged"
    validate_message(T.verdict, p)
    validate_message(T.reject, p)


def test_replayed_verdict_keeps_its_original_times() -> None:
    live = verdict_payload(inspection(), "line1", RUN)
    late = verdict_payload(inspection(), "line1", RUN, replayed=True)
    assert late["replayed"] is True
    assert {k: v for k, v in late.items() if k != "replayed"} == {k: v for k, v in live.items() if k != "replayed"}
    validate_message(T.verdict, late)


@pytest.mark.parametrize("run_id", ["", "a/b", "-x", "x y", "r" * 65, None])
def test_run_id_must_be_one_safe_path_component(run_id: Any) -> None:
    with pytest.raises(ValueError, match="run_id: expected"):
        verdict_payload(inspection(), "line1", run_id)
    with pytest.raises(ValueError, match="run_id: expected"):
        status_payload("online", "line1", run_id)


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    p = verdict_payload(inspection(), "line1", RUN)
    assert ISO.match(p["captured_at"]) and ISO.match(p["decided_at"])
    assert p["captured_at"] == "2024-05-01T12:00:00.123Z"
    assert p["captured_ts"] == CAPTURED
    parsed = datetime.fromisoformat(p["captured_at"].replace("Z", "+00:00")).timestamp()
    assert abs(parsed - CAPTURED) < 0.001


def test_fault_payload_has_null_score() -> None:
    p = verdict_payload(inspection(Verdict.FAULT, None, boxes=(), reason="frame not inspected: queue full"), "s", RUN)
    assert p["verdict"] == "FAULT" and p["score"] is None and p["boxes"] == []
    assert b'"score":null' in encode(p)
    validate_message("edge-inspector/s/reject", p)


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="score: expected a finite number or None, got nan"):
        verdict_payload(inspection(score=math.nan), "s", RUN)
    with pytest.raises(ValueError):
        encode({"score": math.nan})


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": 1, "frame": "Prüfteil"}) == '{"a":1,"frame":"Prüfteil"}'.encode()


# --- topics ------------------------------------------------------------------------------------------------------


def test_topics() -> None:
    t = topics("edge-inspector", "line1")
    assert (t.verdict, t.reject, t.status, t.stats) == (
        "edge-inspector/line1/verdict", "edge-inspector/line1/reject", "edge-inspector/line1/status",
        "edge-inspector/line1/stats")
    assert t.wildcard == "edge-inspector/line1/#"
    assert topics("plant/a", "s").verdict == "plant/a/s/verdict"
    assert t.trigger == "edge-inspector/line1/trigger"
    assert t.captured == "edge-inspector/line1/captured"
    assert {topic.rsplit("/", 1)[1] for topic in (t.verdict, t.reject, t.status, t.stats, t.trigger, t.captured)} \
        == set(SCHEMA_FOR_LEVEL)


@pytest.mark.parametrize(("prefix", "station"), [("", "s"), ("p", ""), ("p/#", "s"), ("p", "s+"), ("p", "a/b")])
def test_topics_refuse_wildcards_and_empty_parts(prefix: str, station: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        topics(prefix, station)


# --- status ------------------------------------------------------------------------------------------------------


def test_status_payload() -> None:
    capture = {"state": "stalled", "since": "2024-05-01T12:00:00.123Z", "detail": "no frame for 5.0 s"}
    p = status_payload("online", "line1", RUN, {"model_id": "m1", "capture": capture}, at=CAPTURED)
    assert p == {"schema": "edge-inspector/status", "version": 2, "station": "line1", "run_id": RUN,
                 "state": "online", "at": "2024-05-01T12:00:00.123Z", "ts": CAPTURED, "model_id": "m1",
                 "capture": capture}
    validate_message(T.status, p)
    with pytest.raises(ValueError, match="expected 'online' or 'offline', got 'up'"):
        status_payload("up", "line1", RUN)
    with pytest.raises(ValueError, match="'run_id' would overwrite a contract key"):
        status_payload("online", "line1", RUN, {"run_id": "other"})


@pytest.mark.parametrize("extra", [{"clean": True}, {"clean": False}, {"clean": True, "reason": "SIGTERM"}, {}])
def test_offline_status_and_last_will_validate(extra: dict[str, Any]) -> None:
    p = status_payload("offline", "line1", RUN, extra)
    assert ISO.match(p["at"]) and isinstance(p["ts"], float)
    validate_message(T.status, p)


def test_status_allows_new_keys_but_not_wrong_documented_ones() -> None:
    validate_message(T.status, status_payload("online", "line1", RUN, {"firmware": "1.2"}))
    bad_capture = {"state": "asleep", "since": "2024-05-01T12:00:00.123Z", "detail": ""}
    for extra in ({"capture": bad_capture}, {"clean": "yes"}, {"clean": True}, {"model_id": 3}):
        with pytest.raises(AssertionError, match="status.schema.json"):
            validate_message(T.status, status_payload("online", "line1", RUN, extra))


# --- stats -------------------------------------------------------------------------------------------------------


def test_stats_payload_header_and_body() -> None:
    body = stats_body()
    p = stats_payload("line1", RUN, body, at=CAPTURED)
    assert (p["schema"], p["version"], p["station"], p["run_id"], p["at"], p["ts"]) == (
        STATS_SCHEMA, 2, "line1", RUN, "2024-05-01T12:00:00.123Z", CAPTURED)
    assert set(p) == {"schema", "version", "station", "run_id", "at", "ts"} | STATS_BODY_KEYS
    assert {k: p[k] for k in body} == body
    assert json.loads(encode(p)) == p
    validate_message(T.stats, p)


def test_stats_with_no_samples_turn_nan_latency_into_null() -> None:
    p = stats_payload("line1", RUN, stats_body(n=0))
    nulls = {"n": 0, "p50": None, "p99": None, "mean": None, "max": None}
    assert p["latency_ms"] == nulls and p["inference_ms"] == nulls
    assert b'"p50":null' in encode(p)
    validate_message(T.stats, p)


def test_stats_body_must_have_exactly_the_documented_keys() -> None:
    body = stats_body()
    del body["spool"]
    with pytest.raises(ValueError, match=r"missing keys \['spool'\], unknown keys \[\]"):
        stats_payload("line1", RUN, body)
    with pytest.raises(ValueError, match=r"unknown keys \['gpu'\]"):
        stats_payload("line1", RUN, {**stats_body(), "gpu": 1})
    with pytest.raises(ValueError, match="unexpected keys"):
        stats_payload("line1", RUN, {**stats_body(), "latency_ms": {**latency(3), "p90": 1.0}})


def test_stats_non_finite_outside_latency_is_refused_by_the_encoder() -> None:
    p = stats_payload("line1", RUN, {**stats_body(), "fps": math.inf})
    with pytest.raises(ValueError):
        encode(p)


@pytest.mark.parametrize(("path", "value"), [
    (("verdicts", "PASS"), -1), (("verdicts", "PASS"), 1.5), (("capture", "state"), "asleep"),
    (("capture", "since"), "yesterday"), (("mqtt", "connected"), 1), (("spool", "depth"), None),
    (("sink_errors", "audit"), "many"), (("latency_ms", "p50"), None), (("evidence", "extra"), 0),
])
def test_stats_schema_rejects_wrong_nested_values(path: tuple[str, str], value: Any) -> None:
    p = stats_payload("line1", RUN, stats_body())
    p[path[0]][path[1]] = value
    with pytest.raises(AssertionError, match=re.escape(f"$.{path[0]}")):
        validate_message(T.stats, p)


# --- the schemas themselves and hand-made invalid messages -------------------------------------------------------


@pytest.mark.parametrize("name", ["verdict", "status", "stats"])
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://edge-inspector.dev/schemas/{name}-2.json"
    assert schema["properties"]["version"] == {"const": CONTRACT_VERSION}
    assert schema["properties"]["schema"] == {"const": f"edge-inspector/{name}"}


def test_schemas_agree_with_the_code_on_enums_and_keys() -> None:
    stats, status = load_schema("stats"), load_schema("status")
    assert set(stats["properties"]["capture"]["properties"]["state"]["enum"]) == CAPTURE_STATES
    assert set(status["properties"]["capture"]["properties"]["state"]["enum"]) == CAPTURE_STATES
    assert set(stats["required"]) == {"schema", "version", "station", "run_id", "at", "ts"} | STATS_BODY_KEYS
    verdict = load_schema("verdict")
    # part_id came as a new optional key of contract 2: sent always, required never (older spooled verdicts)
    # defect_type too, sent only on a FAIL named by model.defect_types (tests/unit/publish/test_defect_type_contract.py)
    assert set(verdict["required"]) == KEYS - {"part_id"} and set(verdict["properties"]) == KEYS | {"defect_type"}


def _verdict(**changes: Any) -> dict[str, Any]:
    p = copy.deepcopy(verdict_payload(inspection(), "line1", RUN))
    p.update(changes)
    return p


@pytest.mark.parametrize(("payload", "expected"), [
    ({k: v for k, v in _verdict().items() if k != "run_id"}, "'run_id' is a required property"),
    ({k: v for k, v in _verdict().items() if k != "replayed"}, "'replayed' is a required property"),
    (_verdict(version=1), "2 was expected"),
    (_verdict(colour="red"), "Additional properties are not allowed"),
    (_verdict(verdict="OK"), "'OK' is not one of"),
    (_verdict(verdict="PASS", score=None), "None is not of type 'number'"),
    (_verdict(seq=-1), "less than the minimum"),
    (_verdict(replayed="yes"), "is not of type 'boolean'"),
    (_verdict(run_id="a/b"), "does not match"),
    (_verdict(captured_at="2024-05-01 12:00:00"), "does not match"),
    (_verdict(boxes=[{"x": 1, "y": 2, "w": 0, "h": 4, "area": 1, "peak": 0.5}]), "less than the minimum of 1"),
    (_verdict(boxes=[{"x": 1, "y": 2, "w": 3, "h": 4, "area": 1, "peak": 0.5, "label": "x"}]), "Additional"),
])
def test_schema_rejects_invalid_verdicts(payload: dict[str, Any], expected: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(expected)):
        validate_message(T.verdict, payload)


def test_nan_never_reaches_the_schema() -> None:
    """NaN is not JSON: the encoder refuses it before anyone could validate or publish it."""
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        encode(_verdict(latency_ms=math.nan))


def test_invalid_status_and_unknown_topic() -> None:
    p = status_payload("online", "line1", RUN)
    del p["run_id"]
    with pytest.raises(AssertionError, match="'run_id' is a required property"):
        validate_message(T.status, p)
    with pytest.raises(AssertionError, match="2 was expected"):
        validate_message(T.status, {**status_payload("online", "line1", RUN), "version": 1})
    with pytest.raises(AssertionError, match="no contract schema for topic level 'health'"):
        validate_message("edge-inspector/line1/health", p)


def test_the_examples_in_the_contract_page_are_valid() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "mqtt-contract.md"
    examples = re.findall(r"```json\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(examples) == 5, "docs/mqtt-contract.md shows a verdict, a capture notice, a status, a stats and a " \
                               "trigger example"
    for example, level in zip(examples, ("verdict", "captured", "status", "stats", "trigger"), strict=True):
        validate_message(f"edge-inspector/line1/{level}", json.loads(example))


def test_date_time_format_is_checked_beyond_the_pattern() -> None:
    with pytest.raises(AssertionError, match="is not a 'date-time'"):
        validate_message(T.verdict, _verdict(decided_at="2024-13-45T12:00:00.123Z"))


# --- files that reuse the contract -------------------------------------------------------------------------------


def test_audit_log_is_the_contract_payload_plus_evidence(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.jsonl"
    first, second = (verdict_payload(inspection(seq=1), "line1", RUN),
                     verdict_payload(inspection(Verdict.FAULT, None, seq=2), "line1", RUN))
    with AuditLog(path) as audit:
        audit.write(first, evidence=tmp_path / "e.png")
        audit.write(second)
        assert len(read_audit(path)) == 2, "each line is on disk as soon as it is written"
    records = read_audit(path)
    assert [r["seq"] for r in records] == [1, 2]
    assert records[0] == {**first, "evidence": str(tmp_path / "e.png")}
    assert records[1]["evidence"] is None and records[1]["run_id"] == RUN
    with path.open("a") as f:
        f.write('{"seq": 3, "verd')  # a crash mid-line
    assert [r["seq"] for r in read_audit(path)] == [1, 2]


def test_evidence_names_carry_the_run_id(tmp_path: Path) -> None:
    frame = np.full((32, 32, 3), 100, np.uint8)
    annotated = np.full((32, 32, 3), 200, np.uint8)
    writer = EvidenceWriter(tmp_path, save_pass=False, run_id=RUN)
    fail = writer.write(inspection(image=frame), annotated)
    assert fail == tmp_path / "20240501" / f"{RUN}_00000042_FAIL.png"
    assert (tmp_path / "20240501" / f"{RUN}_00000042_FAIL_raw.png").exists()
    saved = cv2.imread(str(fail))
    assert saved is not None and saved[0, 0].tolist() == [200, 200, 200]
    assert writer.write(inspection(Verdict.PASS, 0.1, image=frame), annotated) is None
    assert writer.write(inspection(Verdict.FAULT, None, seq=5), None) is None, "a dropped frame has no image"
    fault = writer.write(inspection(Verdict.FAULT, None, seq=6, image=frame), annotated)
    assert fault is not None and fault.name == f"{RUN}_00000006_FAULT.png"
    assert writer.written == 3
    next_run = EvidenceWriter(tmp_path, save_pass=False, run_id="20240501T130000Z-000001")
    again = next_run.write(inspection(image=frame), annotated)
    assert again is not None and again != fail and fail.exists(), "a restart (seq from 0 again) overwrites nothing"
    keep_all = EvidenceWriter(tmp_path / "all", save_pass=True, run_id=RUN)
    assert keep_all.write(inspection(Verdict.PASS, 0.1, image=frame), annotated) is not None
