"""The hand-written Sparkplug B codec against Eclipse Tahu's generated protobuf classes (shipped by pysparkplug)."""

from __future__ import annotations

import contextlib
import math
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.sparkplug import payload as sp
from edge_inspector.sparkplug.payload import Metric, Payload, PayloadError, decode, encode

if not os.environ.get("CI"):  # .ci/run installs it: in CI a missing decoder fails instead of skipping
    pytest.importorskip("pysparkplug", reason="the independent Sparkplug decoder: pip install --no-deps "
                        "-c constraints.txt pysparkplug==0.6.1 (.ci/run does)")
from pysparkplug._protobuf import sparkplug_b_pb2 as pb  # noqa: E402

# (Tahu DataType number, value, the Tahu field that must carry it, what Tahu's classes read back)
CASES = [
    (3, -5, "int_value", 2**32 - 5),  # Int32: two's complement in the uint32 field, as Tahu's own clients do
    (3, 2**31 - 1, "int_value", 2**31 - 1),
    (7, 2**32 - 1, "int_value", 2**32 - 1),
    (4, -2, "long_value", 2**64 - 2),
    (8, 2**64 - 1, "long_value", 2**64 - 1),
    (13, 1714564800123, "long_value", 1714564800123),
    (9, 0.5, "float_value", 0.5),
    (10, 0.8123, "double_value", 0.8123),
    (11, True, "boolean_value", True),
    (11, False, "boolean_value", False),
    (12, "FAIL ✓", "string_value", "FAIL ✓"),
    (12, "", "string_value", ""),
]


@pytest.mark.parametrize(("datatype", "value", "field", "tahu"), CASES)
def test_tahu_reads_what_we_write(datatype: int, value: object, field: str, tahu: object) -> None:
    raw = encode(Payload(1700000000000, (Metric("a/b", datatype, value, 1699999999999, True, 7),), 255))  # type: ignore[arg-type]
    msg = pb.Payload.FromString(raw)
    assert (msg.timestamp, msg.seq, len(msg.metrics)) == (1700000000000, 255, 1)
    m = msg.metrics[0]
    assert (m.name, m.alias, m.timestamp, m.datatype, m.is_historical) == ("a/b", 7, 1699999999999, datatype, True)
    assert m.WhichOneof("value") == field
    assert getattr(m, field) == tahu
    assert decode(raw).metrics[0].value == value  # and our own decoder reads it back as written


def test_null_value_is_is_null_and_no_value() -> None:
    raw = encode(Payload(5, (Metric("Inspection/Score", sp.DOUBLE, None, 5),), 0))
    m = pb.Payload.FromString(raw).metrics[0]
    assert m.is_null and m.WhichOneof("value") is None
    assert decode(raw).metrics[0].value is None


def test_we_read_what_tahu_writes() -> None:
    msg = pb.Payload(timestamp=42, seq=9)
    m = msg.metrics.add(name="Node Control/Rebirth", datatype=11, boolean_value=True, timestamp=41)
    msg.metrics.add(name="x", datatype=10, double_value=-1.25)
    msg.metrics.add(name="i", datatype=3, int_value=2**32 - 3)
    msg.metrics.add(name="l", datatype=4, long_value=2**64 - 3)
    msg.metrics.add(name="f", datatype=9, float_value=1.5)
    msg.uuid = "ignored: a field we do not use"
    assert m.boolean_value
    got = decode(msg.SerializeToString())
    assert (got.timestamp, got.seq) == (42, 9)
    assert [(x.name, x.value) for x in got.metrics] == [
        ("Node Control/Rebirth", True), ("x", -1.25), ("i", -3), ("l", -3), ("f", 1.5)]


def test_ndeath_has_no_seq() -> None:
    msg = pb.Payload.FromString(encode(Payload(1, (Metric("bdSeq", sp.INT64, 3, 1),))))
    assert not msg.HasField("seq") and msg.metrics[0].long_value == 3


@pytest.mark.parametrize(("datatype", "value"), [(3, 2**31), (7, -1), (8, 2**64), (3, 1.5), (3, True), (99, 1)])
def test_values_a_type_cannot_hold_are_refused(datatype: int, value: object) -> None:
    with pytest.raises(ValueError, match="metric m"):
        encode(Payload(0, (Metric("m", datatype, value),)))  # type: ignore[arg-type]


def test_oversized_payload_refused_before_parsing() -> None:
    big = encode(Payload(0, (Metric("s", sp.STRING, "x" * 70000),)))
    with pytest.raises(PayloadError, match="more than the limit of 65536"):
        decode(big)


@pytest.mark.parametrize("raw", [b"\x12\x05ab", b"\x08", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                                 b"\x0b", b"\x00\x00", b"\x12\x02\x78\x00", b"\x12\x03\x0a\x01\xff",
                                 b"\x12\x02\x60\x01", b"\x12\x05\x65\x00\x00\x80"])
def test_malformed_bytes_are_payload_errors(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        decode(raw)


def test_too_many_metrics_refused() -> None:
    raw = encode(Payload(0, tuple(Metric("", sp.BOOLEAN, True) for _ in range(sp.MAX_METRICS + 1))))
    with pytest.raises(PayloadError, match="more than 1000 metrics"):
        decode(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_decoder_only_raises_payload_error(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode(raw)


_metric = st.builds(
    Metric, name=st.text(max_size=20), datatype=st.just(sp.DOUBLE),
    value=st.floats(allow_nan=False) | st.none(), timestamp=st.none() | st.integers(0, 2**63),
    is_historical=st.booleans(), alias=st.none() | st.integers(0, 2**64 - 1))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**64 - 1), st.lists(_metric, max_size=5), st.none() | st.integers(0, 255))
def test_round_trip_through_tahu(ts: int, metrics: list[Metric], seq: int | None) -> None:
    raw = encode(Payload(ts, tuple(metrics), seq))
    msg = pb.Payload.FromString(raw)
    assert msg.timestamp == ts and (msg.seq if msg.HasField("seq") else None) == seq
    for ours, theirs in zip(metrics, msg.metrics, strict=True):
        assert theirs.name == ours.name and theirs.is_historical == ours.is_historical
        if ours.value is None:
            assert theirs.is_null
        else:
            assert struct.pack("<d", theirs.double_value) == struct.pack("<d", ours.value) or math.isclose(
                theirs.double_value, ours.value)
    assert decode(raw) == Payload(ts, tuple(metrics), seq)
