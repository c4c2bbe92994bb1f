"""The reject bridge's fail-safe rules, one test each, with the clock passed in (no real time involved)."""

from __future__ import annotations

import pytest

from edge_inspector.bridges.messages import Verdict
from edge_inspector.bridges.planner import Planner

T0 = 1_800_000_000.0
DELAY = 1.0


def v(seq: int, verdict: str = "FAIL", *, run: str = "r1", ts: float | None = None, replayed: bool = False,
      part: str | None = None) -> Verdict:
    return Verdict("line1", run, seq, T0 + 0.1 * seq if ts is None else ts, verdict, replayed, part)


def fire_all(p: Planner, planned: list) -> list[str]:  # type: ignore[type-arg]
    return [w for w in (p.take(x.token) for x in planned) if w is not None]


@pytest.mark.parametrize(("verdict", "fires"), [("PASS", 0), ("FAIL", 1), ("FAULT", 1)])
def test_pass_never_fires_fail_and_fault_fire_once_at_capture_plus_delay(verdict: str, fires: int) -> None:
    p = Planner(DELAY)
    planned = p.on_verdict(v(0, verdict), now=T0 + 0.05)
    assert len(planned) == fires
    if fires:
        assert planned[0].at == pytest.approx(T0 + DELAY)
        assert fire_all(p, planned) == [f"{verdict} r1/0"]


def test_replayed_verdict_never_fires_and_is_counted() -> None:
    p = Planner(DELAY)
    assert p.on_verdict(v(0, replayed=True), now=T0 + 0.05) == []  # even though its firing time is ahead
    assert p.snapshot()["replayed"] == 1 and p.snapshot()["fired"] == 0


def test_late_verdict_never_fires_and_is_counted() -> None:
    p = Planner(DELAY)
    assert p.on_verdict(v(0), now=T0 + DELAY + 0.001) == []
    assert p.snapshot()["late"] == 1


def test_duplicates_by_station_run_seq_never_double_fire_but_another_run_does() -> None:
    p = Planner(DELAY)
    first = p.on_verdict(v(3), now=T0)
    assert len(first) == 1
    assert p.on_verdict(v(3), now=T0 + 0.01) == []
    assert p.on_verdict(v(3, "FAULT"), now=T0 + 0.02) == []  # same key, whatever it says
    assert p.snapshot()["duplicates"] == 2
    other_run = p.on_verdict(v(3, run="r2"), now=T0)  # seq restarts with each run: a different part
    assert len(other_run) == 1


def test_a_gap_in_seq_rejects_the_missing_parts_at_interpolated_times() -> None:
    p = Planner(DELAY)
    assert p.on_verdict(v(10, "PASS"), now=T0 + 1.0) == []
    planned = p.on_verdict(v(13, "PASS"), now=T0 + 1.31)  # 11 and 12 never arrived
    assert [x.what for x in planned] == ["missing r1/11 (no verdict)", "missing r1/12 (no verdict)"]
    assert [x.at for x in planned] == pytest.approx([T0 + 1.1 + DELAY, T0 + 1.2 + DELAY])
    # a missing part found only after its firing time has passed cannot be reached: counted, not fired
    late = p.on_verdict(v(20, "PASS"), now=T0 + 1.85 + DELAY)  # 14-18 due at +2.4 to +2.8
    assert [x.what for x in late] == ["missing r1/19 (no verdict)"]
    assert p.snapshot()["missing_too_late"] == 5


def test_first_verdict_of_a_run_is_no_gap_and_an_older_one_fills_nothing() -> None:
    p = Planner(DELAY)
    assert p.on_verdict(v(500, "PASS"), now=T0 + 50) == []  # the bridge started mid-run
    assert p.on_verdict(v(400, "PASS"), now=T0 + 50) == []  # out of order (e.g. a memory-queue verdict)


def test_a_triggered_part_without_a_verdict_is_rejected() -> None:
    p = Planner(DELAY)
    planned = p.on_trigger("P-1", sent=None, now=T0)
    assert planned is not None and planned.at == pytest.approx(T0 + DELAY)
    assert p.take(planned.token) == "trigger P-1 (no verdict in time)"
    assert p.snapshot()["trigger_timeouts"] == 1
    # its verdict arriving after that is late: no second pulse
    assert p.on_verdict(v(0, part="P-1", ts=T0), now=T0 + DELAY + 0.1) == []
    assert p.snapshot()["late"] == 1


def test_a_pass_in_time_cancels_the_triggered_pulse_and_a_fail_keeps_exactly_one() -> None:
    p = Planner(DELAY)
    good, bad = p.on_trigger("P-1", None, now=T0), p.on_trigger("P-2", None, now=T0 + 0.1)
    assert good is not None and bad is not None
    assert p.on_verdict(v(0, "PASS", part="P-1", ts=T0), now=T0 + 0.05) == []
    assert p.on_verdict(v(1, "FAIL", part="P-2", ts=T0 + 0.1), now=T0 + 0.15) == []  # the trigger's pulse stands
    assert p.take(good.token) is None
    assert p.take(bad.token) == "FAIL r1/1 part P-2"
    assert p.snapshot()["fired"] == 1 and p.snapshot()["cancelled"] == 1


def test_a_trigger_held_back_by_the_broker_or_repeated_is_not_a_new_part() -> None:
    p = Planner(DELAY)
    assert p.on_trigger("P-9", sent=T0 - 2 * DELAY, now=T0) is None
    assert p.on_trigger("P-1", None, now=T0) is not None
    assert p.on_trigger("P-1", None, now=T0 + 0.01) is None
    assert (p.snapshot()["late_triggers"], p.snapshot()["trigger_duplicates"]) == (1, 1)


def test_a_capture_time_far_in_the_future_is_refused() -> None:
    p = Planner(DELAY, max_skew_s=2.0)
    assert p.on_verdict(v(0, ts=T0 + 10), now=T0) == []
    assert p.snapshot()["clock_skew"] == 1


def test_dedup_memory_is_bounded() -> None:
    p = Planner(DELAY, dedup_entries=1000)
    for seq in range(5000):
        p.on_verdict(v(seq, "PASS", ts=T0), now=T0)
    assert len(p._seen) == 1000


def key(seq: int, run: str = "r1") -> tuple[str, str, int]:
    return ("line1", run, seq)


def test_a_captured_part_whose_verdict_never_comes_is_rejected_at_capture_plus_delay() -> None:
    p = Planner(DELAY)
    planned = p.on_capture(key(5), T0 + 0.5, now=T0 + 0.51)
    assert planned is not None and planned.at == pytest.approx(T0 + 0.5 + DELAY)
    assert fire_all(p, [planned]) == ["capture r1/5 (no verdict in time)"]
    assert p.snapshot()["capture_timeouts"] == 1 and p.snapshot()["fired"] == 1


def test_a_pass_in_time_cancels_the_captured_pulse_and_a_fail_keeps_exactly_one() -> None:
    p = Planner(DELAY)
    passed, failed = p.on_capture(key(1), T0 + 0.1, now=T0 + 0.1), p.on_capture(key(2), T0 + 0.2, now=T0 + 0.2)
    assert passed is not None and failed is not None
    assert p.on_verdict(v(1, "PASS"), now=T0 + 0.5) == []
    assert p.on_verdict(v(2, "FAIL"), now=T0 + 0.6) == []  # the notice's pulse stands for it: no second one
    assert fire_all(p, [passed, failed]) == ["FAIL r1/2"]
    assert p.snapshot()["cancelled"] == 1 and p.snapshot()["fired"] == 1


def test_a_pass_after_the_captured_part_was_rejected_is_late_and_fires_nothing_more() -> None:
    p = Planner(DELAY)
    planned = p.on_capture(key(7), T0 + 0.7, now=T0 + 0.7)
    assert planned is not None
    assert fire_all(p, [planned]) == ["capture r1/7 (no verdict in time)"]  # the scorer hung: rejected
    assert p.on_verdict(v(7, "PASS"), now=T0 + 0.7 + DELAY + 0.3) == []
    assert p.snapshot()["late"] == 1 and p.snapshot()["fired"] == 1


def test_a_notice_after_its_verdict_or_twice_or_too_late_plans_nothing() -> None:
    p = Planner(DELAY)
    assert len(p.on_verdict(v(3), now=T0 + 0.35)) == 1
    assert p.on_capture(key(3), T0 + 0.3, now=T0 + 0.4) is None  # the verdict came first
    assert p.on_capture(key(4), T0 + 0.4, now=T0 + 0.45) is not None
    assert p.on_capture(key(4), T0 + 0.4, now=T0 + 0.46) is None  # a redelivery
    assert p.on_capture(key(5), T0 + 0.5, now=T0 + 0.5 + DELAY) is None  # held back past its firing time
    s = p.snapshot()
    assert (s["captures"], s["capture_duplicates"], s["late_captures"]) == (4, 2, 1)


def test_a_seq_gap_does_not_plan_a_second_pulse_for_a_part_its_notice_covers() -> None:
    p = Planner(DELAY)
    assert p.on_verdict(v(10, "PASS"), now=T0 + 1.0) == []
    notice = p.on_capture(key(11), T0 + 1.1, now=T0 + 1.1)
    assert notice is not None
    planned = p.on_verdict(v(13, "PASS"), now=T0 + 1.31)  # 11 (announced) and 12 (not) have no verdict
    assert [x.what for x in planned] == ["missing r1/12 (no verdict)"]
    assert sorted(fire_all(p, [notice, *planned])) == ["capture r1/11 (no verdict in time)",
                                                       "missing r1/12 (no verdict)"]


def test_a_notice_from_a_clock_far_ahead_is_refused() -> None:
    p = Planner(DELAY, max_skew_s=2.0)
    assert p.on_capture(key(1), T0 + 60.0, now=T0) is None
    assert p.snapshot()["clock_skew"] == 1
