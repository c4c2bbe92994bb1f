"""The sender's parts on their own: the memory fallback (memory_fallback.py) and the settle/acknowledge
bookkeeping (delivery_ledger.py). The sender thread against a real broker is tests/integration/test_sender*.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_inspector.publish import Spool, SpoolEntry
from edge_inspector.publish import memory_fallback as fallback_module
from edge_inspector.publish.delivery_ledger import DeliveryLedger
from edge_inspector.publish.memory_fallback import MemoryFallback, save_at_stop

log = logging.getLogger("test-sender-bookkeeping")


def entry(entry_id: int, seq: int) -> SpoolEntry:
    return SpoolEntry(entry_id, "run-a", seq, 1.0e9, seq % 2 == 1, b'{"seq": %d}' % seq)


def test_the_memory_fallback_is_bounded_counts_what_it_pushes_out_and_never_reuses_a_spool_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fallback_module, "MEMORY_FALLBACK_LIMIT", 3)
    memory = MemoryFallback()
    pushed_out = [memory.add("run-a", seq, b"x", False) for seq in range(5)]
    assert pushed_out == [False, False, False, True, True]
    assert memory.dropped == 2 and [e.seq for e in memory.waiting] == [2, 3, 4]
    assert [e.id for e in memory.waiting] == [-3, -4, -5], "negative ids, one each"


def test_entries_not_tried_go_back_in_front_in_order_and_spool_rows_are_not_kept_in_memory() -> None:
    memory = MemoryFallback()
    for seq in range(4):
        memory.add("run-a", seq, b"x", False)
    batch = memory.take(3) + [entry(7, 10)]
    assert [e.seq for e in batch] == [0, 1, 2, 10] and len(memory.waiting) == 1
    memory.put_back(batch[1:])  # the first was sent; the spool row 7 stays in the spool, not in memory
    assert [e.seq for e in memory.waiting] == [1, 2, 3]


def test_at_stop_held_entries_come_first_and_a_refusing_spool_is_tried_once(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    memory = MemoryFallback()
    for seq in range(4):
        memory.add("run-a", seq, b"x", False)
    for sent in memory.take(2):
        memory.held[sent.id] = sent  # sent, never acknowledged
    assert memory.depth == 4
    held, waiting = memory.drain()
    assert [e.seq for e in held] == [0, 1] and [e.seq for e in waiting] == [2, 3] and memory.depth == 0
    spool = Spool(tmp_path / "spool.sqlite")
    assert save_at_stop(spool, held, waiting, log) == (4, [], [])
    assert [e.seq for e in spool.pending()] == [0, 1, 2, 3]
    spool.close()  # a spool that takes no writes any more
    with caplog.at_level(logging.ERROR, logger=log.name):
        assert save_at_stop(spool, held, waiting, log) == (0, [2, 3], [0, 1])
    assert len([r for r in caplog.records if "still cannot be written" in r.getMessage()]) == 1


def test_a_reject_verdict_is_settled_only_when_both_messages_are_acknowledged() -> None:
    ledger = DeliveryLedger()
    reject = entry(5, 1)
    ledger.expect(reject, 2)
    ledger.accepted(5, mid=11, verdict_copy=True, replayed=True)
    ledger.accepted(5, mid=12, verdict_copy=False, replayed=True)
    assert (ledger.published, ledger.replayed, ledger.last_id) == (1, 1, 5), "the reject copy is not a verdict"
    assert ledger.acknowledged(99) is None, "a status message's PUBACK settles nothing"
    assert ledger.acknowledged(11) == 5 and not ledger.one_settled(5)
    assert ledger.acked == 0 and ledger.outstanding == {5: 1}
    assert ledger.acknowledged(12) == 5 and ledger.one_settled(5)
    assert ledger.acked == 1 and ledger.outstanding == {} and ledger.inflight == {}
    assert ledger.acknowledged(12) is None, "a second PUBACK for the same message is ignored"


def test_memory_entries_do_not_move_the_spool_position() -> None:
    ledger = DeliveryLedger()
    ledger.expect(entry(3, 0), 1)
    ledger.expect(entry(-1, 1), 1)
    assert ledger.last_id == 3 and set(ledger.outstanding) == {3, -1}
