"""Every message the reject bridge reads is checked: size before parsing, then the contract's types; anything
else raises MessageError (never another exception), however it is mangled."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.bridges.messages import MessageError, parse_verdict

GOOD = {"schema": "edge-inspector/verdict", "version": 2, "station": "line1", "run_id": "20261206T100000Z-3fa9c1",
        "seq": 7, "source_index": 7, "frame": "frame_000007", "captured_at": "2026-12-06T10:00:00.100Z",
        "captured_ts": 1796551200.1, "decided_at": "2026-12-06T10:00:00.150Z", "latency_ms": 50.0,
        "verdict": "FAIL", "score": 0.9, "threshold": 0.5, "boxes": [], "reason": "r", "model_id": "m",
        "part_id": "P-7", "replayed": False}


def _bytes(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_a_contract_verdict_is_read() -> None:
    got = parse_verdict(_bytes(GOOD), "line1")
    assert (got.key, got.verdict, got.captured_ts, got.part_id, got.replayed, got.rejects) == (
        ("line1", GOOD["run_id"], 7), "FAIL", 1796551200.1, "P-7", False, True)


@pytest.mark.parametrize(("key", "value"), [
    ("schema", "edge-inspector/status"), ("version", 1), ("station", "line2"), ("run_id", "../x"),
    ("seq", -1), ("seq", 1.0), ("seq", True), ("seq", "7"), ("captured_ts", None), ("captured_ts", "soon"),
    ("captured_ts", True), ("verdict", "fail"), ("replayed", "false"), ("replayed", None), ("part_id", ""),
    ("part_id", "a\nb"), ("part_id", "x" * 129),
])
def test_wrong_fields_are_refused_in_one_line(key: str, value: object) -> None:
    with pytest.raises(MessageError) as err:
        parse_verdict(_bytes({**GOOD, key: value}), "line1")
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_missing_fields_and_non_objects_are_refused() -> None:
    for key in ("run_id", "seq", "captured_ts", "verdict", "replayed"):
        with pytest.raises(MessageError):
            parse_verdict(_bytes({k: v for k, v in GOOD.items() if k != key}), "line1")
    for payload in (b"", b"[]", b"null", b"\xff\xfe", b"{" * 100_000, b"1" * 60_000):
        with pytest.raises(MessageError):
            parse_verdict(payload, "line1", limit=1 << 20)


def test_an_oversized_message_is_refused_before_it_is_decoded() -> None:
    huge = _bytes({**GOOD, "reason": "x" * 70_000})
    with pytest.raises(MessageError, match="over the limit of 65536"):
        parse_verdict(huge, "line1", limit=65536)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_ever_raise_message_error(payload: bytes) -> None:
    with contextlib.suppress(MessageError):  # anything else (a crash) fails the test
        parse_verdict(payload, "line1")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(GOOD)), json_values, max_size=6))
def test_fuzz_mangled_verdicts_are_read_correctly_or_refused(changes: dict[str, object]) -> None:
    obj = {**GOOD, **changes}
    try:
        got = parse_verdict(json.dumps(obj).encode(), "line1")
    except MessageError:
        return
    assert got.seq == obj["seq"] and got.verdict == obj["verdict"] and got.replayed is obj["replayed"]
