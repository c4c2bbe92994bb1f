"""One warning per kind a minute: the shared throttle every door, sink and subscriber tool uses."""

from __future__ import annotations

from edge_inspector.publish.log_throttle import KindThrottles


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_kind_logs_its_first_event_then_once_per_interval_with_the_count_it_held_back() -> None:
    clock = Clock()
    throttles = KindThrottles(interval=60.0, clock=clock)
    assert throttles.hit("oversize") == 0  # the first of a kind is always logged
    assert [throttles.hit("oversize") for _ in range(5)] == [None] * 5
    assert throttles.hit("json") == 0  # a flood of one kind does not hide the first of another
    clock.now += 59.9
    assert throttles.hit("oversize") is None
    clock.now += 0.1  # 60 s after the first line
    assert throttles.hit("oversize") == 6  # five, then one more, were held back
    assert throttles.hit("oversize") is None
    assert throttles.hit("json") == 0  # its own minute ran out too: logged, nothing held back


def test_a_flood_of_a_million_events_logs_one_line_a_minute() -> None:
    clock = Clock()
    throttles = KindThrottles(interval=60.0, clock=clock)
    logged = 0
    for i in range(1_000_000):
        clock.now = 1000.0 + i * 0.001  # 1000 events a second for 1000 s
        logged += throttles.hit("retained") is not None
    assert logged == 17  # at 0 s, then at 60, 120, ... 960 s: 1 + 16 lines
