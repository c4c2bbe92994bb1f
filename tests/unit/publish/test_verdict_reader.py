"""The one reader of incoming contract-2 verdicts: size before decoding, every field the schema defines checked
for type and length, a frozen result; anything else a MessageError with a kind, however the message is mangled."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.message_fields import MessageError
from edge_inspector.publish.verdict_reader import read_verdict

LIMIT = 65536
# the example of docs/mqtt-contract.md, plus part_id
GOOD: dict[str, Any] = {
    "schema": "edge-inspector/verdict", "version": 2, "station": "line1", "run_id": "20240501T115820Z-3fa9c1",
    "seq": 1042, "source_index": 1042, "frame": "frame_001042", "captured_at": "2024-05-01T12:00:00.123Z",
    "captured_ts": 1714564800.123, "decided_at": "2024-05-01T12:00:00.171Z", "latency_ms": 48.2,
    "verdict": "FAIL", "score": 0.8123, "threshold": 0.5,
    "boxes": [{"x": 112, "y": 64, "w": 31, "h": 22, "area": 340, "peak": 0.913}],
    "reason": "score 0.812 >= threshold 0.500; 1 region, largest 340 px", "model_id": "bottle-fae-20240430-1a2b3c",
    "replayed": False, "part_id": "P-000123",
}


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_the_contracts_example_reads_into_a_frozen_verdict() -> None:
    v = read_verdict(enc(GOOD), "line1", LIMIT)
    assert (v.key, v.source_index, v.verdict, v.score, v.threshold) == (
        ("line1", "20240501T115820Z-3fa9c1", 1042), 1042, "FAIL", 0.8123, 0.5)
    assert (v.frame, v.model_id, v.part_id, v.replayed) == (
        "frame_001042", "bottle-fae-20240430-1a2b3c", "P-000123", False)
    assert [(b.x, b.y, b.w, b.h, b.area, b.peak) for b in v.boxes] == [(112, 64, 31, 22, 340, 0.913)]
    assert v.captured_ts == 1714564800.123 and v.latency_ms == 48.2
    assert v.decided_at == datetime(2024, 5, 1, 12, 0, 0, 171000, tzinfo=timezone.utc)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.seq = 1  # type: ignore[misc]


def test_extra_keys_are_ignored_and_part_id_is_optional() -> None:
    obj = {k: v for k, v in GOOD.items() if k != "part_id"} | {"future_field": [1, 2]}
    v = read_verdict(enc(obj), "line1", LIMIT)
    assert v.part_id is None and v.seq == 1042


@pytest.mark.parametrize(("change", "kind"), [
    ({"source_index": -2}, "type"), ({"source_index": "7"}, "type"), ({"captured_at": 7}, "type"),
    ({"captured_at": "soon"}, "type"), ({"captured_ts": 0}, "type"), ({"captured_ts": True}, "type"),
    ({"latency_ms": None}, "type"), ({"model_id": "m" * 257}, "schema"), ({"frame": "f" * 257}, "schema"),
    ({"part_id": ""}, "schema"), ({"part_id": "a\x00b"}, "schema"), ({"station": "line2"}, "station"),
    ({"boxes": [{"x": 0, "y": 0, "w": 0, "h": 1, "area": 0, "peak": 0.5}]}, "schema"),
])
def test_each_field_the_schema_defines_is_checked(change: dict[str, Any], kind: str) -> None:
    with pytest.raises(MessageError) as info:
        read_verdict(enc({**GOOD, **change}), "line1", LIMIT)
    assert info.value.kind == kind
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_an_oversized_message_is_refused_before_it_is_decoded() -> None:
    valid = enc(GOOD)
    assert read_verdict(valid, "line1", len(valid)).seq == 1042
    huge = b"\xff" * (8 * 1024 * 1024)  # not UTF-8 either: only the size check can have answered
    with pytest.raises(MessageError) as info:
        read_verdict(huge, "line1", LIMIT)
    assert info.value.kind == "oversize" and str(len(huge)) in str(info.value) and len(str(info.value)) < 200


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_ever_raise_message_error(payload: bytes) -> None:
    with contextlib.suppress(MessageError):  # anything else (a crash) fails the test
        read_verdict(payload, "line1", LIMIT)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(GOOD)), json_values, max_size=4))
def test_fuzz_mangled_verdicts_are_read_exactly_or_refused(changes: dict[str, Any]) -> None:
    obj = {**GOOD, **changes}
    try:
        payload = json.dumps(obj, allow_nan=True).encode()
        v = read_verdict(payload, "line1", LIMIT)
    except MessageError:
        return
    assert (v.seq, v.source_index, v.verdict, v.replayed, v.frame) == (
        obj["seq"], obj["source_index"], obj["verdict"], obj["replayed"], obj["frame"])
    assert type(v.seq) is int and v.seq >= 0 and isinstance(v.threshold, float)
    assert v.score is not None or v.verdict == "FAULT"
    assert v.part_id is None or 1 <= len(v.part_id) <= 128
    assert len(v.reason) <= 512 and len(v.model_id) <= 256 and all(b.w >= 1 and b.h >= 1 for b in v.boxes)
