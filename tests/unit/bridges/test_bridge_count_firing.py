"""Encoder mode's firing, one poll at a time (the firing thread's poll step driven by the test, the counter a
scripted reader, the output a recorder): a part fires when the belt reaches its capture position plus
counts_to_ejector, never while the belt stands, across the counter's wrap; a PASS cancels; a part the belt cannot
place is refused; after an encoder outage a part within catch_up_counts fires (late_fired), one further past does
not (missed_outage); the status says the encoder is in error while it cannot be read. The clock is the test's:
nothing depends on how fast the machine runs."""

from __future__ import annotations

from edge_inspector.bridges.config import Encoder
from edge_inspector.bridges.count_firing import CountFiring
from edge_inspector.bridges.encoder import EncoderError, PositionRing
from edge_inspector.bridges.geometry import EncoderGeometry
from edge_inspector.bridges.messages import Verdict
from edge_inspector.bridges.planner import Planner

COUNTS = 1000


class Clock:
    """Epoch seconds that move only when the test says (each read takes 1 ms of it)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        self.t += 0.0005
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def time_() -> float:
    return CLOCK.t


CLOCK = Clock()


class Counter:
    """The encoder as the test sets it; `broken` makes reads fail."""

    def __init__(self, raw: int) -> None:
        self.raw, self.broken = raw, False

    def read(self) -> int:
        if self.broken:
            raise EncoderError("encoder modbus tcp://module:502: timed out")
        return self.raw

    def close(self) -> None: ...

    def describe(self) -> str:
        return "test counter"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bool] = []

    def set(self, on: bool) -> None:
        self.writes.append(on)

    def close(self) -> None: ...

    def describe(self) -> str:
        return "recorder"


def build(raw: int, bits: int = 32, stale_ms: float = 20.0, catch_up: int = 0):  # type: ignore[no-untyped-def]
    cfg = Encoder(host="m", address=0, bits=bits, poll_ms=2.0, counts_to_ejector=COUNTS, stale_ms=stale_ms,
                  catch_up_counts=catch_up)
    ring = PositionRing(bits, stale_ms / 1000.0, 10_000)
    planner = Planner(EncoderGeometry(ring, COUNTS), max_skew_s=2.0)
    counter, out = Counter(raw), Recorder()
    fired: list[tuple[str, float, float]] = []
    firing = CountFiring(planner, out, 0.05, counter, ring, cfg, on_fire=lambda w, t, p: fired.append((w, t, p)),
                         clock=CLOCK)
    return planner, firing, counter, out, fired


def move(firing: CountFiring, counter: Counter, to: int, bits: int = 32) -> None:
    counter.raw = to % (1 << bits)
    firing._poll()


def verdict(seq: int, v: str, ts: float) -> Verdict:
    return Verdict("s1", "r1", seq, ts, v, False, None)


def test_a_part_fires_at_its_capture_count_plus_counts_to_ejector_and_never_while_the_belt_stands() -> None:
    planner, firing, counter, out, fired = build(raw=500)
    firing._poll()
    captured = time_()
    move(firing, counter, 600)
    firing.schedule([p for p in [planner.on_capture(("s1", "r1", 0), captured, time_())] if p])
    firing.schedule(planner.on_verdict(verdict(0, "FAIL", captured), time_()))
    at = fired_at = None
    for pos in range(650, 1700, 50):
        move(firing, counter, pos)
        if fired and fired_at is None:
            at, fired_at = fired[0][1], pos
        if pos == 1400:  # the belt stops short of the ejector: poll after poll, nothing fires
            for _ in range(50):
                firing._poll()
            assert not fired
    # the capture was between the reads at 500 and 600: its position is in there, its firing count 1000 further
    assert at is not None and 1500 <= at <= 1600, fired
    assert fired_at is not None and fired_at - at < 50  # the first read at or past the firing count
    assert [w for w, _, _ in fired] == ["FAIL r1/0"] and out.writes == [True]
    assert planner.snapshot()["fired"] == 1 and firing.edges == 1


def test_the_count_follows_the_belt_across_the_16_bit_wrap_and_a_pass_cancels() -> None:
    planner, firing, counter, out, fired = build(raw=65000, bits=16)
    firing._poll()
    captured = time_()
    move(firing, counter, 65100, bits=16)
    fail = planner.on_capture(("s1", "r1", 0), captured, time_())
    passing = planner.on_capture(("s1", "r1", 1), time_(), time_())
    assert fail is not None and passing is not None
    firing.schedule([fail, passing])
    planner.on_verdict(verdict(1, "PASS", time_()), time_())
    for pos in range(65200, 66300, 100):  # the raw counter wraps at 65536 to 0, 100, ...
        move(firing, counter, pos, bits=16)
    assert [w for w, _, _ in fired] == ["capture r1/0 (no verdict in time)"]
    assert 66000 <= fired[0][1] <= 66100 and fired[0][2] - fired[0][1] < 100
    assert planner.snapshot()["cancelled"] == 1


def test_a_part_captured_before_the_history_or_while_the_encoder_is_down_is_refused() -> None:
    planner, firing, counter, out, fired = build(raw=0)
    before = time_()
    CLOCK.sleep(0.001)
    firing._poll()
    assert planner.on_capture(("s1", "r1", 0), before, time_()) is None  # before the first sample
    CLOCK.sleep(0.03)  # longer than stale_ms without a read: the belt's position is unknown
    assert planner.on_verdict(verdict(1, "FAIL", time_()), time_()) == []
    assert planner.snapshot()["no_position"] == 2
    assert firing.detail()["state"] == "error"


def _outage(catch_up: int) -> tuple[Planner, CountFiring, list[tuple[str, float, float]], Recorder]:
    planner, firing, counter, out, fired = build(raw=0, catch_up=catch_up)
    firing._poll()
    ts = time_()
    move(firing, counter, 10)
    firing.schedule([p for p in [planner.on_capture(("s1", "r1", 0), ts, time_())] if p])
    move(firing, counter, 900)
    counter.broken = True
    for _ in range(5):
        firing._poll()
    detail = firing.detail()
    assert (detail["read_errors"], detail["last_error"]) == (5, "encoder modbus tcp://module:502: timed out")
    CLOCK.sleep(0.03)  # stale: the status says so, and the module's counter moved on meanwhile
    assert firing.detail()["state"] == "error"
    counter.broken = False
    move(firing, counter, 1200)  # the part's count (about 1000-1010) was passed during the outage
    return planner, firing, fired, out


def test_after_an_outage_a_part_far_past_its_count_is_not_fired_and_is_counted() -> None:
    planner, firing, fired, out = _outage(catch_up=0)
    assert fired == [] and out.writes == []
    d = firing.detail()
    assert (d["state"], d["missed_outage"], d["late_fired"], d["outages"]) == ("ok", 1, 0, 1)
    assert planner.snapshot()["fired"] == 0 and planner.snapshot()["pending"] == 0


def test_after_an_outage_a_part_within_catch_up_counts_fires_at_once_and_is_counted_late() -> None:
    planner, firing, fired, out = _outage(catch_up=500)
    assert [w for w, _, _ in fired] == ["capture r1/0 (no verdict in time)"] and out.writes == [True]
    d = firing.detail()
    assert (d["missed_outage"], d["late_fired"]) == (0, 1)


def test_triggers_and_seq_gaps_are_planned_in_counts_too() -> None:
    planner, firing, counter, out, fired = build(raw=100)
    firing._poll()
    move(firing, counter, 300)
    trig = planner.on_trigger("P-1", None, time_())  # the part is at the camera now: the belt's count now
    assert trig is not None and trig.at == 300 + COUNTS
    t0 = time_()
    assert planner.on_verdict(verdict(0, "FAIL", t0), t0)[0].at == 300 + COUNTS
    move(firing, counter, 500)
    t2 = time_()
    gap = planner.on_verdict(verdict(2, "PASS", t2), t2)  # seq 1 lost on the way: halfway along the belt
    assert [(p.at, p.what) for p in gap] == [(400 + COUNTS, "missing r1/1 (no verdict)")]
    move(firing, counter, 2000)
    held = planner.on_trigger("P-2", t0, time_())  # sent when the belt was at 300: it passed the ejector
    assert held is None and planner.snapshot()["late_triggers"] == 1


def test_an_unexpected_exception_from_the_reader_is_a_counted_read_error_not_a_dead_thread() -> None:
    planner, firing, counter, out, fired = build(raw=0)

    def boom() -> int:
        raise ValueError("malformed frame")

    counter.read = boom  # type: ignore[method-assign]
    firing._poll()
    d = firing.detail()
    assert d["read_errors"] == 1 and "ValueError: malformed frame" in str(d["last_error"])
