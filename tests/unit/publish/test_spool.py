"""The durable spool: order, persistence across a killed process, bounds with counted drops, clear errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_inspector.publish import Spool, SpoolError


def test_entries_come_back_in_order_and_leave_on_delivery(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite")
    ids = [spool.append("run-a", seq, f"p{seq}".encode(), reject=seq % 2 == 1) for seq in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    pending = spool.pending()
    assert [(e.seq, e.payload, e.reject) for e in pending] == [(s, f"p{s}".encode(), s % 2 == 1) for s in range(5)]
    assert [e.seq for e in spool.pending(after_id=ids[2])] == [3, 4]
    spool.mark_delivered([ids[0], ids[1]])
    assert [e.seq for e in spool.pending()] == [2, 3, 4]
    stats = spool.stats()
    assert (stats.depth, stats.appended, stats.delivered) == (3, 5, 2)
    spool.close()
    spool.close()  # harmless


def test_undelivered_entries_survive_a_killed_process(tmp_path: Path) -> None:
    """SIGKILL-like death (os._exit, no close, no checkpoint): every append that returned is on disk."""
    path = tmp_path / "s.sqlite"
    code = textwrap.dedent(f"""
        import os
        from edge_inspector.publish import Spool
        spool = Spool({str(path)!r}, fsync="normal")
        for seq in range(200):
            spool.append("run-k", seq, b"x" * 100, reject=False)
        spool.mark_delivered([1, 2])
        os._exit(9)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    spool = Spool(path)
    assert [e.seq for e in spool.pending(limit=1000)] == list(range(2, 200))
    assert spool.depth == 198


def test_full_spool_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", max_entries=3)
    for seq in range(5):
        spool.append("r", seq, b"{}", reject=False)
    assert [e.seq for e in spool.pending()] == [2, 3, 4]
    assert spool.stats().dropped_full == 2 and spool.depth == 3


def test_old_entries_expire_and_are_counted(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(tmp_path / "s.sqlite", max_age_s=60.0, clock=lambda: now[0])
    spool.append("r", 0, b"{}", reject=False)
    now[0] += 30
    spool.append("r", 1, b"{}", reject=False)
    now[0] += 40  # entry 0 is 70 s old, entry 1 40 s
    assert spool.stats().oldest_age_s == pytest.approx(70.0)
    assert spool.expire() == 1
    assert [e.seq for e in spool.pending()] == [1]
    assert spool.stats().dropped_age == 1


def test_full_fsync_policy_works_and_bad_policy_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", fsync="full")
    spool.append("r", 0, b"{}", reject=True)
    assert spool.pending()[0].reject
    # SQLite's own answer, not the setting we passed: 2 = FULL (fsync on every commit), 1 = NORMAL
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert Spool(tmp_path / "n.sqlite", fsync="normal")._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(ValueError, match="spool.fsync"):
        Spool(tmp_path / "t.sqlite", fsync="sometimes")


def test_a_file_that_is_not_a_spool_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(SpoolError) as info:
        Spool(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
