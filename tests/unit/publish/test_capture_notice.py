"""The capture notice (publish/capture_notice.py): what the daemon writes, the reader reads back exactly; anything
else is refused with a kind, whatever bytes arrive."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.capture_notice import CaptureNotice, capture_payload, read_capture
from edge_inspector.publish.message_fields import MessageError


def notice(**changes: object) -> bytes:
    d = {"schema": "edge-inspector/captured", "version": 2, "station": "line1", "run_id": "r-1", "seq": 7,
         "captured_ts": 1_800_000_000.25}
    d.update(changes)
    return json.dumps(d).encode()


def test_the_daemons_notice_reads_back_as_written() -> None:
    payload = capture_payload("line1", "20261206T221500Z-ab12", 41, 1_800_000_000.123456)
    assert len(payload) < 160
    assert read_capture(payload, "line1") == CaptureNotice("line1", "20261206T221500Z-ab12", 41,
                                                           1_800_000_000.123456)
    assert read_capture(payload, "line1").key == ("line1", "20261206T221500Z-ab12", 41)


@pytest.mark.parametrize(("payload", "kind"), [
    (notice(station="line2"), "station"),
    (notice(schema="edge-inspector/verdict"), "schema"),
    (notice(version=3), "schema"),
    (notice(seq=-1), "type"),
    (notice(seq=True), "type"),
    (notice(seq=2**63), "type"),
    (notice(captured_ts=0), "type"),
    (notice(captured_ts="soon"), "type"),
    (notice(run_id="../x"), "schema"),
    (b'{"captured_ts": NaN}', "json"),
    (b"\xff\xfe", "json"),
    (b"[]", "json"),
])
def test_a_bad_notice_is_refused_with_its_kind(payload: bytes, kind: str) -> None:
    with pytest.raises(MessageError) as exc:
        read_capture(payload, "line1")
    assert exc.value.kind == kind and len(str(exc.value)) < 300


def test_an_oversized_notice_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(MessageError) as exc:
        read_capture(b"{" + b" " * 5000 + b"}", "line1", limit=4096)
    assert exc.value.kind == "oversize"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(["schema", "version", "station", "run_id", "seq", "captured_ts"]),
                                 st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=80)),
                                 ).map(lambda d: json.dumps(d).encode())))
def test_any_bytes_give_a_notice_or_a_message_error(payload: bytes) -> None:
    try:
        got = read_capture(payload, "line1")
    except MessageError:
        return
    assert got.station == "line1" and got.seq >= 0 and got.captured_ts > 0


def test_the_notice_matches_its_published_schema() -> None:
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[3] / "docs/schemas/captured.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(capture_payload("line1", "r-1", 0, 1_800_000_000.5)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(capture_payload("line1", "r-1", 0, 1.0)), "seq": -1}, schema)
