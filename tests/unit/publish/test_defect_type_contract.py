"""Contract 2's optional `defect_type` key: what the daemon publishes for a named FAIL (and nothing otherwise),
the JSON Schema accepting verdicts with and without it, and the shared reader (reject bridge, OPC UA,
Sparkplug) accepting a good one and refusing anything else with its own error, however it is mangled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_schemas import validate_message
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.contract import CONTRACT_VERSION, encode, verdict_payload
from edge_inspector.publish.message_fields import MessageError
from edge_inspector.publish.verdict_reader import read_verdict
from edge_inspector.types import Box, DefectType, Inspection, Verdict

RUN = "20240501T115820Z-3fa9c1"
TOPIC = "edge-inspector/line1/verdict"
LIMIT = 65536


def inspection(verdict: Verdict = Verdict.FAIL, defect: DefectType | None = None) -> Inspection:
    return Inspection(seq=3, source_index=3, name="part_3.png", captured_at=1714564800.123,
                      decided_at=1714564800.2, verdict=verdict, score=0.9 if verdict is not Verdict.FAULT else None,
                      threshold=0.5, boxes=(Box(1, 2, 3, 4, 9, 0.9),) if verdict is Verdict.FAIL else (),
                      reason="r", latency_ms=5.0, model_id="m", defect_type=defect)


def test_a_named_fail_carries_defect_type_and_fits_the_schema() -> None:
    payload = verdict_payload(inspection(defect=DefectType("scratch", 0.875)), "line1", RUN)
    assert payload["defect_type"] == {"name": "scratch", "confidence": 0.875}
    assert payload["version"] == CONTRACT_VERSION == 2  # an optional key: the version stays
    validate_message(TOPIC, payload)
    validate_message("edge-inspector/line1/reject", payload)
    back = read_verdict(encode(payload), "line1", LIMIT)
    assert back.defect_type == DefectType("scratch", 0.875)


@pytest.mark.parametrize("verdict", [Verdict.PASS, Verdict.FAIL, Verdict.FAULT])
def test_without_a_name_the_key_is_absent_and_the_schema_and_reader_accept_it(verdict: Verdict) -> None:
    payload = verdict_payload(inspection(verdict), "line1", RUN)
    assert "defect_type" not in payload
    validate_message(TOPIC, payload)
    assert read_verdict(encode(payload), "line1", LIMIT).defect_type is None
    validate_message(TOPIC, {**payload, "defect_type": None})  # null is allowed as well
    assert read_verdict(encode({**payload, "defect_type": None}), "line1", LIMIT).defect_type is None


def test_an_oversized_name_is_capped_by_the_daemon_and_refused_by_the_schema_and_reader() -> None:
    payload = verdict_payload(inspection(defect=DefectType("x" * 5000, 0.5)), "line1", RUN)
    assert len(payload["defect_type"]["name"]) == 64 and payload["defect_type"]["name"].endswith("...[cut]")
    validate_message(TOPIC, payload)
    long = {**payload, "defect_type": {"name": "y" * 65, "confidence": 0.5}}
    with pytest.raises(AssertionError, match="defect_type"):
        validate_message(TOPIC, long)
    with pytest.raises(MessageError, match="defect_type.name: 65 characters"):
        read_verdict(encode(long), "line1", LIMIT)


@pytest.mark.parametrize("bad, kind", [
    ({"name": "", "confidence": 0.5}, "schema"), ({"name": "a", "confidence": 1.5}, "schema"),
    ({"name": "a", "confidence": -0.1}, "schema"), ({"name": "a"}, "type"), ({"confidence": 0.2}, "type"),
    ({"name": 5, "confidence": 0.2}, "type"), ({"name": "a", "confidence": "0.2"}, "type"),
    ({"name": "a", "confidence": True}, "type"), ({"name": "a\u0007b", "confidence": 0.2}, "schema"),
    ({"name": "a", "confidence": 0.2, "extra": 1}, "schema"), ("scratch", "type"), ([1, 2], "type"),
    ({"name": "a", "confidence": 10 ** 400}, "type"),
])
def test_bad_defect_types_are_refused_by_reader_and_schema(bad: Any, kind: str) -> None:
    payload = {**verdict_payload(inspection(), "line1", RUN), "defect_type": bad}
    with pytest.raises(MessageError) as err:
        read_verdict(json.dumps(payload).encode(), "line1", LIMIT)
    assert err.value.kind == kind and "defect_type" in str(err.value) and len(str(err.value)) < 300
    with pytest.raises(AssertionError):
        validate_message(TOPIC, payload)


def test_the_daemon_refuses_a_non_finite_confidence() -> None:
    with pytest.raises(ValueError):
        DefectType("a", float("nan"))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
DEFECT = st.one_of(JSON, st.fixed_dictionaries({"name": JSON, "confidence": JSON}),
                   st.fixed_dictionaries({"name": st.text(max_size=100), "confidence": st.floats()}))


@settings(max_examples=200, deadline=None)
@given(DEFECT)
def test_fuzz_the_reader_raises_nothing_but_its_own_error_and_agrees_with_the_schema(value: Any) -> None:
    payload = {**verdict_payload(inspection(), "line1", RUN), "defect_type": value}
    try:
        raw = json.dumps(payload, allow_nan=True).encode()
    except (ValueError, OverflowError):
        return
    try:
        got = read_verdict(raw, "line1", LIMIT)
    except MessageError:
        return
    # accepted: then it is what the contract allows, and the schema says so too
    assert got.defect_type is None or (1 <= len(got.defect_type.name) <= 64
                                       and 0.0 <= got.defect_type.confidence <= 1.0)
    validate_message(TOPIC, json.loads(raw))
