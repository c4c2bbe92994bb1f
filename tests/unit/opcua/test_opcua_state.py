"""The vision state (OPC 40100-1 StateNumbers) derived from the station's status, and bounded de-duplication."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from edge_inspector.opcua.messages import Status
from edge_inspector.opcua.state import Dedup, vision_state


def status(state: str = "online", capture: str | None = "running", clean: bool | None = None,
           scorer_failed: bool = False) -> Status:
    return Status(station="s", run_id="r", state=state, clean=clean, at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                  model_id="m", capture_state=capture, capture_detail="cam", scorer_failed=scorer_failed,
                  reason=None, profile_revision=None, profile_product=None)


# OPC 40100-1 Table 82: Preoperational 1, Halted 2, Error 3, Operational 4
@pytest.mark.parametrize("st, connected, name, number", [
    (None, True, "Preoperational", 1),
    (status(capture="starting"), True, "Preoperational", 1),
    (status(capture="running"), True, "Operational", 4),
    (status(capture="idle"), True, "Operational", 4),
    (status(capture=None), True, "Operational", 4),
    (status(capture="stalled"), True, "Error", 3),
    (status(capture="reconnecting"), True, "Error", 3),
    (status(capture="failed"), True, "Error", 3),
    (status(capture="ended"), True, "Error", 3),
    (status(scorer_failed=True), True, "Error", 3),
    (status("offline", None, clean=True), True, "Halted", 2),
    (status("offline", None, clean=False), True, "Error", 3),
    (status("offline", None, clean=None), True, "Error", 3),
    (status(capture="running"), False, "Error", 3),  # this server lost the broker: the station's state is unknown
])
def test_status_maps_to_the_vision_state(st: Status | None, connected: bool, name: str, number: int) -> None:
    state = vision_state(st, connected)
    assert (state.name, state.number) == (name, number)
    assert state.reason


def test_dedup_drops_repeats_and_stays_bounded() -> None:
    dedup = Dedup(3)
    keys = [("s", "r1", n) for n in range(5)]
    assert [dedup.fresh(k) for k in keys] == [True] * 5
    assert len(dedup) == 3
    assert dedup.fresh(("s", "r1", 4)) is False and dedup.fresh(("s", "r1", 3)) is False
    assert dedup.fresh(("s", "r2", 4)) is True, "seq repeats with each run: the run id is part of the key"
    assert dedup.duplicates == 2
    with pytest.raises(ValueError):
        Dedup(0)
