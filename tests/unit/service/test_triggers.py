"""Trigger matching: each announced part gets the first frame in its window, or expires as a FAULT."""

from __future__ import annotations

import json

import pytest

from edge_inspector.service.triggers import TriggerMatcher


def test_a_trigger_takes_the_first_frame_in_its_window_and_frames_before_it_get_none() -> None:
    m = TriggerMatcher(window_s=0.5)
    m.on_trigger("A")
    (a,) = list(m._pending)
    assert m.match(a.at_mono - 0.01) is None  # captured before the part was announced
    assert m.match(a.at_mono + 0.2) == "A"
    assert m.match(a.at_mono + 0.3) is None  # one frame per part
    assert m.expired(a.at_mono + 10) == [] and (m.matched, m.timed_out) == (1, 0)


def test_an_unmatched_trigger_expires_after_its_window_with_the_reason() -> None:
    m = TriggerMatcher(window_s=0.5)
    m.on_trigger("A")
    m.on_trigger("B")
    a, b = list(m._pending)
    assert m.expired(a.at_mono + 0.4) == []
    assert m.match(b.at_mono + 0.6) is None  # too late for A, and B's window is over too
    gone = m.expired(b.at_mono + 0.6)
    assert [t.part_id for t in gone] == ["A", "B"] and m.timed_out == 2
    assert gone[0].reason == "no frame within 500 ms of the trigger for part A"


def test_a_frame_goes_to_the_oldest_open_trigger_and_late_ones_expire() -> None:
    m = TriggerMatcher(window_s=0.5)
    m.on_trigger("A")
    m.on_trigger("B")
    a, b = list(m._pending)
    assert m.match(b.at_mono + 0.1) == "A" and m.match(b.at_mono + 0.2) == "B"


def test_trigger_messages_are_validated_and_late_deliveries_expire_at_once() -> None:
    fired: list[int] = []
    m = TriggerMatcher(window_s=0.5, fire=lambda: fired.append(1))
    for bad in (b"not json", b"{}", json.dumps({"part_id": ""}).encode(), json.dumps({"part_id": 7}).encode(),
                json.dumps({"part_id": "x" * 129}).encode(), json.dumps({"part_id": "P", "ts": "now"}).encode()):
        m.on_trigger_json(bad)
    assert (m.refused, m.received, fired) == (6, 0, [])
    m.on_trigger_json(json.dumps({"part_id": "P-1"}).encode())
    assert fired == [1] and [t.part_id for t in m._pending] == ["P-1"]
    import time

    m.on_trigger_json(json.dumps({"part_id": "P-0", "ts": time.time() - 60}).encode())  # held back by the broker
    late = m.expired()
    assert [t.part_id for t in late] == ["P-0"] and "arrived 60" in late[0].reason and fired == [1]


def test_a_failing_software_trigger_leaves_the_part_to_expire() -> None:
    def broken() -> None:
        raise OSError("camera gone")

    m = TriggerMatcher(window_s=0.1, fire=broken)
    m.on_trigger("A")
    (a,) = list(m._pending)
    assert [t.part_id for t in m.expired(a.at_mono + 1)] == ["A"]


def test_oversized_odd_and_hostile_trigger_messages_are_refused_with_a_capped_log(
        caplog: pytest.LogCaptureFixture) -> None:
    m = TriggerMatcher(window_s=0.5)
    hostile = [json.dumps({"part_id": "P" * 100_000}).encode(), b"[" * 50_000 + b"]" * 50_000,
               b'{"part_id": "P", "ts": ' + b"1" * 5000 + b"}", json.dumps({"part_id": "P-1\nERROR forged"}).encode(),
               json.dumps(["part_id"]).encode(), json.dumps({"part_id": "P", "ts": True}).encode(), b"\xff"]
    with caplog.at_level("WARNING"):
        for payload in hostile:
            m.on_trigger_json(payload)
    assert (m.refused, m.received) == (len(hostile), 0)
    assert len(caplog.records) == len(hostile) and all(len(r.getMessage()) < 600 for r in caplog.records)
    assert "part_id" in caplog.records[0].getMessage()
