"""The text rules a verdict shares with the log (config/redact.py): one capper, one escaper of text that is not
UTF-8. The contract's own limits and schema are tests/unit/publish/test_contract.py; the log filter's are
tests/unit/config/test_redact.py."""

from __future__ import annotations

from edge_inspector.config.redact import cap_text, escape_non_utf8
from edge_inspector.publish import encode, verdict_payload
from edge_inspector.types import Inspection, Verdict

RUN = "20240501T115820Z-3fa9c1"


def inspection(**kw: object) -> Inspection:
    fields: dict[str, object] = {
        "seq": 42, "source_index": 7, "name": "part_0007.png", "captured_at": 1714564800.1234,
        "decided_at": 1714564800.2, "verdict": Verdict.PASS, "score": 0.25, "threshold": 0.5,
        "reason": "score 0.250 < threshold 0.500", "latency_ms": 50.0, "model_id": "m1",
    }
    fields.update(kw)
    return Inspection(**fields)  # type: ignore[arg-type]


def test_verdict_text_keeps_its_fixed_cut_mark_while_log_lines_say_how_much_was_cut() -> None:
    """One capper (config/redact.cap_text), two endings its callers rely on: a verdict field ends with
    `...[cut]` at exactly its schema's maxLength; a log line says how many characters were cut."""
    i = inspection(name="n" * 300, reason="Prüf" * 200, part_id="p" * 129)
    payload = verdict_payload(i, "line1", RUN)
    assert payload["frame"] == "n" * 248 + "...[cut]"
    assert payload["reason"] == ("Prüf" * 200)[:504] + "...[cut]"
    assert payload["part_id"] == "p" * 120 + "...[cut]"
    assert verdict_payload(inspection(name="n" * 256), "line1", RUN)["frame"] == "n" * 256, "at the limit: kept"
    assert cap_text("x" * 100, 50) == "x" * 26 + "... (74 characters cut)"
    assert cap_text("x" * 100, 50, mark="...[cut]") == "x" * 42 + "...[cut]"


def test_text_that_is_not_utf8_is_escaped_once_by_the_same_rule_everywhere() -> None:
    """A lone surrogate (a file name that was not UTF-8) is a backslash escape in the payload and in the encoded
    bytes (config/redact.escape_non_utf8, which the sinks use too: test_bad_files_entry_point.py runs that
    through the daemon); valid text, backslashes included, is kept."""
    name = b"part-\xff.png".decode("utf-8", "surrogateescape")
    assert escape_non_utf8(name) == "part-\\udcff.png"
    assert escape_non_utf8("a\\udcff é 中") == "a\\udcff é 中", "valid text is unchanged"
    payload = verdict_payload(inspection(name=name, reason=name, part_id=name), "line1", RUN)
    assert payload["frame"] == payload["reason"] == payload["part_id"] == "part-\\udcff.png"
    assert encode({"frame": name}) == b'{"frame":"part-\\udcff.png"}', "encode() escapes what got past the payload"

