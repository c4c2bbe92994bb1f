"""The OPC UA server's MQTT door: verdict and status messages are size-checked before decoding and type-checked
after; everything else is a MessageError with a kind, never another exception."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.opcua.messages import MessageError, parse_status, parse_verdict

LIMIT = 65536
# the example of docs/mqtt-contract.md, plus part_id
VERDICT: dict[str, Any] = {
    "schema": "edge-inspector/verdict", "version": 2, "station": "line1", "run_id": "20240501T115820Z-3fa9c1",
    "seq": 1042, "source_index": 1042, "frame": "frame_001042", "captured_at": "2024-05-01T12:00:00.123Z",
    "captured_ts": 1714564800.123, "decided_at": "2024-05-01T12:00:00.171Z", "latency_ms": 48.2,
    "verdict": "FAIL", "score": 0.8123, "threshold": 0.5,
    "boxes": [{"x": 112, "y": 64, "w": 31, "h": 22, "area": 340, "peak": 0.913},
              {"x": 20, "y": 200, "w": 6, "h": 7, "area": 36, "peak": 0.62}],
    "reason": "score 0.812 >= threshold 0.500; 2 regions, largest 340 px", "model_id": "bottle-fae-20240430-1a2b3c",
    "replayed": False, "part_id": "P-000123",
}
STATUS: dict[str, Any] = {
    "schema": "edge-inspector/status", "version": 2, "station": "line1", "run_id": "20240501T115820Z-3fa9c1",
    "state": "online", "at": "2024-05-01T11:58:20.500Z", "ts": 1714564700.5, "model_id": "bottle-fae-20240430-1a2b3c",
    "capture": {"state": "running", "since": "2024-05-01T11:58:21.004Z", "detail": "rtsp://cam1/line"},
    "profile": {"product": "bottle", "station": "s1", "revision": 3, "fingerprint": "x", "image_threshold": 0.5,
                "pixel_threshold": 0.4},
}


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_the_contracts_example_verdict_reads_field_by_field() -> None:
    v = parse_verdict(enc(VERDICT), "line1", LIMIT)
    assert (v.station, v.run_id, v.seq, v.verdict) == ("line1", "20240501T115820Z-3fa9c1", 1042, "FAIL")
    assert (v.score, v.threshold, v.part_id, v.replayed) == (0.8123, 0.5, "P-000123", False)
    assert [(b.x, b.y, b.w, b.h, b.area, b.peak) for b in v.boxes] == [(112, 64, 31, 22, 340, 0.913),
                                                                          (20, 200, 6, 7, 36, 0.62)]
    assert v.captured_at == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert v.decided_at == datetime(2024, 5, 1, 12, 0, 0, 171000, tzinfo=timezone.utc)
    assert v.key == ("line1", "20240501T115820Z-3fa9c1", 1042)


def test_a_fault_without_score_and_part_reads_with_nones() -> None:
    v = parse_verdict(enc({**VERDICT, "verdict": "FAULT", "score": None, "boxes": [], "part_id": None}), "line1",
                      LIMIT)
    assert v.score is None and v.part_id is None and v.boxes == ()


def test_the_contracts_example_status_reads() -> None:
    s = parse_status(enc(STATUS), "line1", LIMIT)
    assert (s.state, s.capture_state, s.capture_detail) == ("online", "running", "rtsp://cam1/line")
    assert (s.model_id, s.profile_revision, s.profile_product, s.clean) == ("bottle-fae-20240430-1a2b3c", 3,
                                                                            "bottle", None)
    will = parse_status(enc({k: v for k, v in STATUS.items() if k not in ("capture", "profile", "model_id")}
                            | {"state": "offline", "clean": False}), "line1", LIMIT)
    assert will.clean is False and will.capture_state is None and will.profile_revision is None


@pytest.mark.parametrize("change, kind", [
    ({"schema": "edge-inspector/stats"}, "schema"),
    ({"version": 1}, "schema"),
    ({"version": True}, "type"),
    ({"station": "line2"}, "station"),
    ({"run_id": "bad id with spaces"}, "schema"),
    ({"run_id": "x" * 65}, "schema"),
    ({"seq": -1}, "type"),
    ({"seq": 1.5}, "type"),
    ({"seq": True}, "type"),
    ({"seq": 2**63}, "type"),
    ({"verdict": "MAYBE"}, "schema"),
    ({"score": None}, "schema"),  # null only for a FAULT
    ({"score": "0.9"}, "type"),
    ({"threshold": None}, "type"),
    ({"boxes": {"x": 1}}, "type"),
    ({"boxes": [[1, 2, 3, 4]]}, "type"),
    ({"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "area": 5}]}, "type"),
    ({"boxes": [{"x": 0, "y": 0, "w": 1, "h": 1, "area": 1, "peak": 0.5}] * 1001}, "schema"),
    ({"part_id": "p" * 129}, "schema"),
    ({"part_id": 17}, "type"),
    ({"reason": "r" * 513}, "schema"),
    ({"frame": None}, "type"),
    ({"captured_ts": 1e300}, "type"),
    ({"decided_at": "yesterday"}, "type"),
    ({"replayed": "false"}, "type"),
])
def test_each_bad_verdict_field_is_refused_with_its_kind(change: dict[str, Any], kind: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_verdict(enc({**VERDICT, **change}), "line1", LIMIT)
    assert info.value.kind == kind
    assert len(str(info.value)) < 400 and "\n" not in str(info.value)


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"{", b'{"score": NaN}',
                                     b'{"score": Infinity}', b"[" * 100_000 + b"]" * 100_000])
def test_what_is_not_a_json_object_is_a_json_error(payload: bytes) -> None:
    with pytest.raises(MessageError) as info:
        parse_verdict(payload, "line1", len(payload) + 1)
    assert info.value.kind == "json"


def test_an_oversized_message_is_refused_before_it_is_decoded() -> None:
    valid = enc(VERDICT)
    assert parse_verdict(valid, "line1", len(valid)).seq == 1042
    with pytest.raises(MessageError) as info:
        parse_verdict(valid, "line1", len(valid) - 1)
    assert info.value.kind == "oversize"
    huge = b"\xff" * (16 * 1024 * 1024)  # not UTF-8 either: only the size check can have answered
    with pytest.raises(MessageError) as info:
        parse_status(huge, "line1", LIMIT)
    assert info.value.kind == "oversize" and str(len(huge)) in str(info.value)


@pytest.mark.parametrize("change", [{"state": "sleeping"}, {"capture": "running"}, {"capture": {"state": 3}},
                                    {"profile": {"revision": "3"}}, {"profile": {"revision": 2**31}},
                                    {"clean": "yes"}, {"at": 5}, {"model_id": "m" * 257}])
def test_bad_status_fields_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(MessageError):
        parse_status(enc({**STATUS, **change}), "line1", LIMIT)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_never_raise_anything_but_message_error(payload: bytes) -> None:
    for parse in (parse_verdict, parse_status):
        with contextlib.suppress(MessageError):
            parse(payload, "line1", LIMIT)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(VERDICT)), json_values, st.sampled_from(sorted(STATUS)))
def test_fuzz_one_field_replaced_gives_a_checked_object_or_message_error(key: str, value: Any, skey: str) -> None:
    try:
        v = parse_verdict(enc({**VERDICT, key: value}), "line1", LIMIT)
        assert isinstance(v.seq, int) and v.seq >= 0 and v.verdict in ("PASS", "FAIL", "FAULT")
        assert isinstance(v.threshold, float) and all(isinstance(b.area, int) for b in v.boxes)
    except MessageError:
        pass
    try:
        s = parse_status(enc({**STATUS, skey: value}), "line1", LIMIT)
        assert s.state in ("online", "offline") and (s.capture_state is None or isinstance(s.capture_state, str))
    except MessageError:
        pass
