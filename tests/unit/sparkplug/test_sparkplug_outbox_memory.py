"""The Sparkplug outbox's memory fallback (issue 22), on a real SQLite spool made read-only with SQLite's own
`PRAGMA query_only` (every write is refused as on a read-only mount; a full tmpfs is in
tests/integration/test_sparkplug_outbox_disk_full.py). A sender like the edge node's takes, sends, acknowledges
and forgets its window on reconnects in any order: the verdicts still go out in seq order after every reset,
none is lost while the queue has room, and each is acknowledged once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.spool import Spool
from edge_inspector.sparkplug.outbox import Outbox


def read_only(spool: Spool, on: bool) -> None:
    spool._db.execute(f"PRAGMA query_only={int(on)}")  # SQLite refuses every write while on


class Sender:
    """The edge node's use of the outbox, without the network: take, send, ack or forget."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox, self.last, self.inflight = outbox, 0, []  # type: ignore[var-annotated]
        self.runs: list[list[int]] = [[]]  # seqs sent, one list per window (a reconnect starts a new one)
        self.acked: list[int] = []

    def send(self, most: int) -> None:
        for entry in self.outbox.take(self.last, most):
            self.outbox.sent(entry)
            self.last = max(self.last, entry.id)
            self.inflight.append(entry)
            self.runs[-1].append(entry.seq)

    def ack(self) -> None:
        for entry in self.inflight:
            self.outbox.done(entry.id)
            self.acked.append(entry.seq)
        self.inflight = []

    def reconnect(self) -> None:
        self.outbox.forget_window()
        self.last, self.inflight = 0, []
        self.runs.append([])


OPS = st.lists(st.one_of(st.just(("submit", 0)), st.tuples(st.just("ro"), st.booleans()),
                         st.tuples(st.just("send"), st.integers(1, 4)), st.just(("ack", 0)),
                         st.just(("reconnect", 0)), st.just(("flush", 0))), max_size=60)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_any_mix_of_refused_writes_acks_and_reconnects_keeps_order_and_loses_nothing(
        tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, object]]) -> None:
    spool = Spool(tmp_path_factory.mktemp("ob") / "spb.sqlite")
    outbox = Outbox(spool)
    outbox._next_try = 0.0
    sender, seq = Sender(outbox), 0
    for op, arg in ops:
        if op == "submit":
            outbox.append("r1", seq, b"{}", False)
            seq += 1
        elif op == "ro":
            read_only(spool, bool(arg))
        elif op == "send":
            sender.send(int(arg))  # type: ignore[call-overload]
        elif op == "ack":
            sender.ack()
        elif op == "reconnect":
            sender.reconnect()
        else:
            outbox._next_try = 0.0  # the retry pause is wall-clock; the test does not wait for it
            outbox.flush()
        assert outbox.depth == seq - len(sender.acked)
    read_only(spool, False)
    outbox._next_try = 0.0
    outbox.flush()
    sender.send(10_000)
    sender.ack()
    for run in sender.runs:
        assert run == sorted(run) and len(set(run)) == len(run), sender.runs
    assert sorted(sender.acked) == list(range(seq)) and outbox.depth == 0
    assert outbox.memory.dropped == 0
    outbox.close()


def test_queued_behind_memory_until_the_file_takes_writes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spb.sqlite")
    outbox = Outbox(spool)
    assert outbox.append("r1", 0, b"{}", False)
    read_only(spool, True)
    assert not outbox.append("r1", 1, b"{}", False)
    read_only(spool, False)
    assert not outbox.append("r1", 2, b"{}", False), "behind seq 1, which is still in memory"
    assert outbox.write_errors == 1
    assert [(old.seq, new) for old, new in outbox.flush()] == [(1, 2), (2, 3)]
    assert outbox.append("r1", 3, b"{}", False)
    assert [e.seq for e in outbox.take(0, 10)] == [0, 1, 2, 3]
    outbox.close()


def test_at_stop_a_read_only_file_loses_memorys_verdicts_by_seq(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spb.sqlite")
    outbox = Outbox(spool)
    read_only(spool, True)
    for seq in range(7):
        outbox.append("r1", seq, b"{}", False)
    sent = outbox.take(0, 2)
    for entry in sent:
        outbox.sent(entry)
    with caplog.at_level(logging.INFO, logger="edge_inspector.sparkplug"):
        outbox.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "LOST to Sparkplug (seq 2-6)" in text and "sent but never acknowledged" in text, text
    assert outbox.memory.dropped == 7
