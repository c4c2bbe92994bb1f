"""DropOrder (issue 18, item 10): FAULTs without an inspection leave in seq order, never ahead of a lower seq."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.memory_fallback import seq_ranges
from edge_inspector.service.verdict_order import DropOrder
from edge_inspector.types import DroppedFrame


def drop(seq: int) -> DroppedFrame:
    return DroppedFrame(seq, 1.0e9, 0.0, -1, "", "test", kind="trigger_timeout")


def test_a_fault_waits_for_the_frame_with_the_lower_seq() -> None:
    order = DropOrder()
    order.emitted(0)  # frame 0 judged; frame 1 is still being built when the trigger's FAULT takes seq 2
    order.add([drop(2)])
    assert order.due(before=None) == []
    order.emitted(1)
    assert [d.seq for d in order.due(before=None)] == [2]


def test_a_frame_in_hand_releases_every_lower_fault_and_stop_releases_the_rest() -> None:
    order = DropOrder()
    order.add([drop(5), drop(1), drop(3)])
    assert [d.seq for d in order.due(before=4)] == [1, 3]
    order.add([drop(9)])
    assert order.due(before=None) == [], "seq 5 follows 4, which has not had its verdict"
    assert [d.seq for d in order.due(before=None, final=True)] == [5, 9]
    assert len(order) == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_any_interleaving_leaves_in_seq_order(is_frame: list[bool], rnd: object) -> None:
    """Seqs 0..n-1 are frames (handed over in order) or FAULTs (arriving at any time); what leaves is sorted."""
    order, out = DropOrder(), []
    faults = [s for s, f in enumerate(is_frame) if not f]
    rnd.shuffle(faults)  # type: ignore[attr-defined]
    for seq, frame in enumerate(is_frame):
        if faults and rnd.random() < 0.5:  # type: ignore[attr-defined]
            order.add([drop(faults.pop())])
        if frame:
            order.add([drop(s) for s in faults if s < seq])  # a frame comes after its lower drops are taken
            faults = [s for s in faults if s > seq]
            out += [d.seq for d in order.due(before=seq)]
            out.append(seq)
            order.emitted(seq)
        out += [d.seq for d in order.due(before=None)]
    order.add([drop(s) for s in faults])
    out += [d.seq for d in order.due(before=None, final=True)]
    assert out == list(range(len(is_frame)))


def test_seq_ranges_for_the_stop_log() -> None:
    assert seq_ranges([7, 3, 4, 5, 9, 10]) == "3-5, 7, 9-10"
    assert seq_ranges(list(range(0, 100, 2)), limit=3) == "0, 2, 4 and 47 more ranges"
