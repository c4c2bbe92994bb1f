"""The OPC UA server's result store (results.sqlite): what it records survives a reopen, its event times never
repeat nor go back, it stays within its bounds, and a file that is not ours (garbage, oversized, another
schema, future times, bad rows) is moved aside or skipped with a warning, never a crash."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.opcua import result_store
from edge_inspector.opcua.result_store import FILE_NAME, OpcuaStateError, ResultStore

MiB = 1024 * 1024


def store(folder: Path | None, max_results: int = 1000, max_age_s: float = 86400.0, max_bytes: int = 64 * MiB
          ) -> ResultStore:
    return ResultStore(folder, max_results, max_age_s, max_bytes)


def fill(s: ResultStore, n: int, run: str = "r1", start: int = 0) -> list[int]:
    return [s.record(("line1", run, seq), f'{{"seq":{seq}}}'.encode()).time_us for seq in range(start, start + n)]


def test_results_survive_a_reopen_and_times_keep_increasing(tmp_path: Path) -> None:
    s = store(tmp_path)
    first = fill(s, 5)
    assert first == sorted(set(first)), "event times are unique and increasing"
    s.close()
    again = store(tmp_path)
    assert again.moved_aside is None and again.count() == 5
    assert again.has(("line1", "r1", 3)) and not again.has(("line1", "r2", 3)), "the run id is part of the key"
    assert again.recent_keys(2) == [("line1", "r1", 3), ("line1", "r1", 4)]
    later = fill(again, 2, start=5)
    assert later[0] > first[-1]
    last = again.last()
    assert last is not None and last.payload == b'{"seq":6}' and last.time_us == later[-1]


def test_times_never_go_back_when_the_clock_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = store(tmp_path)
    monkeypatch.setattr(result_store.time, "time_ns", lambda: 2_000_000_000 * 10**9)
    ahead = fill(s, 2)
    monkeypatch.setattr(result_store.time, "time_ns", lambda: 1_000_000_000 * 10**9)  # the clock steps back
    behind = fill(s, 2, start=2)
    assert ahead[0] < ahead[1] < behind[0] < behind[1]
    assert behind[0] == ahead[1] + 1


def test_reads_go_forward_from_a_start_and_backward_without_one() -> None:
    s = store(None)
    times = fill(s, 10)
    assert [r.time_us for r in s.read(times[3], None, 100)] == times[3:], "forward from start, inclusive"
    assert [r.time_us for r in s.read(times[3], times[5], 100)] == times[3:6]
    assert [r.time_us for r in s.read(times[3], None, 2)] == times[3:5], "limited"
    assert [r.time_us for r in s.read(None, None, 3)] == times[:-4:-1], "newest first"
    assert [r.time_us for r in s.read(times[5], times[2], 100)] == times[5:1:-1], "start after end: backward"
    assert [r.time_us for r in s.read(None, times[1], 100)] == [times[1], times[0]]


def test_the_history_keeps_to_its_count_age_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = store(tmp_path, max_results=50)
    fill(s, 120)
    s.prune()
    assert s.count() == 50 and s.has(("line1", "r1", 119)) and not s.has(("line1", "r1", 69))
    now = [1_000_000_000 * 10**9]
    monkeypatch.setattr(result_store.time, "time_ns", lambda: now[0])
    aged = store(tmp_path / "age", max_age_s=10.0)
    fill(aged, 3)
    now[0] += 60 * 10**9
    fill(aged, 1, start=3)
    aged.prune()
    assert [k[2] for k in aged.recent_keys(10)] == [3], "older than max_age_s: gone"
    big = store(tmp_path / "size", max_bytes=256 * 1024)
    for seq in range(400):
        big.record(("line1", "r1", seq), b"x" * 2000)
    big.prune()
    assert 0 < big.count() < 400 and big.has(("line1", "r1", 399))
    assert big._live_bytes() <= 256 * 1024


@pytest.mark.parametrize("content, why", [
    (b"not a database at all\n" * 100, "is not a result history"),
    (b"SQLite format 3\x00" + b"\xff" * 5000, "is not a result history"),
])
def test_a_garbage_file_is_moved_aside_and_a_fresh_history_starts(
        tmp_path: Path, content: bytes, why: str, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        s = store(tmp_path)
    assert s.moved_aside is not None and s.moved_aside.read_bytes() == content, "kept for a look, not deleted"
    assert s.count() == 0 and fill(s, 1)
    assert why in caplog.text and "moved aside" in caplog.text
    assert max(len(line) for line in caplog.text.splitlines()) < 600


def test_other_schemas_oversized_files_and_future_times_are_moved_aside(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / FILE_NAME)
    db.execute("CREATE TABLE results (a, b)")
    db.commit()
    db.close()
    assert store(other).moved_aside is not None
    big = tmp_path / "big"
    big.mkdir()
    (big / FILE_NAME).write_bytes(b"\0" * (2 * MiB + 1))
    assert store(big, max_bytes=MiB).moved_aside is not None, "over twice the cap: not read at all"
    future = tmp_path / "future"
    s = store(future)
    s.record(("line1", "r1", 0), b"{}")
    s._db.execute("UPDATE results SET time_us = ?", (2**60,))
    s._db.commit()
    s.close()
    again = store(future)
    assert again.moved_aside is not None and again.count() == 0


def test_rows_of_the_wrong_type_are_skipped_not_fatal(tmp_path: Path) -> None:
    s = store(tmp_path)
    fill(s, 3)
    s._db.execute("UPDATE results SET payload = 'text, not bytes' WHERE seq = 1")
    s._db.commit()
    assert [r.payload for r in s.read(0, None, 10)] == [b'{"seq":0}', b'{"seq":2}']


def test_a_state_dir_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OpcuaStateError) as info:
        store(blocker / "state")
    assert "opcua.state_dir" in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=4096),
                         st.binary(max_size=4096).map(lambda b: b"SQLite format 3\x00" + b)))
def test_fuzzed_files_never_crash_the_open(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / FILE_NAME).write_bytes(content)
    s = store(folder)
    fill(s, 2)
    assert s.count() == 2, "garbage moved aside (or an empty file taken as new): a working history either way"
    s.close()
