"""Audit log rotation (size, UTC day, keep) and refusal of records JSON cannot hold. Real files only."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from edge_inspector.publish import AuditLog, audit_files, encode, read_audit, read_audit_all

DAY0 = 1714564800.0  # 2024-05-01T12:00:00Z


def rec(seq: int, **kw: Any) -> dict[str, Any]:
    return {"seq": seq, "verdict": "FAIL", "score": 0.75, **kw}


def line_bytes(seq: int) -> int:
    return len(encode({**rec(seq), "evidence": None})) + 1


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_write_returns_the_record_plus_evidence_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.jsonl"
    with AuditLog(path) as audit:
        record = rec(1)
        written = audit.write(record, evidence=tmp_path / "e.png")
        assert written == {**record, "evidence": str(tmp_path / "e.png")}
        assert "evidence" not in record, "the caller's dict is not modified"
        audit.write(rec(2))
        assert [r["seq"] for r in read_audit(path)] == [1, 2], "each line is on disk as soon as it is written"
        assert audit.lines == 2 and audit.rotations == 0
    assert read_audit(path)[1]["evidence"] is None
    with path.open("a") as f:
        f.write('{"seq": 3, "verd')  # a crash mid-line
    assert [r["seq"] for r in read_audit(path)] == [1, 2]
    with pytest.raises(ValueError, match="closed"):
        audit.write(rec(4))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_record_is_refused_with_nothing_written(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, max_bytes=10) as audit:
        audit.write(rec(1))
        size = path.stat().st_size
        with pytest.raises(ValueError):
            audit.write(rec(2, score=bad))
        assert path.stat().st_size == size and audit.lines == 1 and audit.rotations == 0
        assert audit_files(path) == [path], "a refused record does not rotate either"
    assert [r["seq"] for r in read_audit(path)] == [1]


def test_rotation_by_size_keeps_every_record_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    per_line = line_bytes(0)
    assert all(line_bytes(i) == per_line for i in range(10))
    n = 10
    with AuditLog(path, max_bytes=3 * per_line, keep=100) as audit:
        for i in range(n):
            audit.write(rec(i))
        assert audit.rotations == 3  # lines 0-2 | 3-5 | 6-8 | 9
    files = audit_files(path)
    assert len(files) == 4 and files[-1] == path
    assert all(f.name.startswith("audit-") and f.suffix == ".jsonl" for f in files[:-1])
    assert [len(read_audit(f)) for f in files] == [3, 3, 3, 1]
    assert all(f.stat().st_size <= 3 * per_line for f in files)
    assert [r["seq"] for r in read_audit_all(path)] == list(range(n))


def test_rotation_by_size_never_splits_an_oversized_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, max_bytes=5) as audit:
        audit.write(rec(1))
        audit.write(rec(2))
        assert audit.rotations == 1, "an empty file is not rotated; the second line starts a new file"
    assert [[r["seq"] for r in read_audit(f)] for f in audit_files(path)] == [[1], [2]]


def test_rotation_by_utc_day_names_files_by_rotation_time(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    clock = Clock(DAY0)
    with AuditLog(path, rotate_daily=True, clock=clock) as audit:
        audit.write(rec(1))
        clock.t = DAY0 + 11 * 3600  # 23:00, same day
        audit.write(rec(2))
        clock.t = DAY0 + 12 * 3600 + 5  # 2024-05-02T00:00:05Z
        audit.write(rec(3))
        audit.write(rec(4))
        clock.t += 86400
        audit.write(rec(5))
        assert audit.rotations == 2
    names = [f.name for f in audit_files(path)]
    assert names == ["audit-20240502T000005Z.jsonl", "audit-20240503T000005Z.jsonl", "audit.jsonl"]
    assert [[r["seq"] for r in read_audit(f)] for f in audit_files(path)] == [[1, 2], [3, 4], [5]]


def test_same_second_rotations_get_ordered_suffixes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, max_bytes=1, clock=Clock(DAY0)) as audit:
        for i in range(4):
            audit.write(rec(i))
    names = [f.name for f in audit_files(path)]
    assert names == [
        "audit-20240501T120000Z.jsonl",
        "audit-20240501T120000Z-1.jsonl",
        "audit-20240501T120000Z-2.jsonl",
        "audit.jsonl",
    ]
    assert [r["seq"] for r in read_audit_all(path)] == [0, 1, 2, 3]


def test_keep_deletes_the_oldest_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    clock = Clock(DAY0)
    unrelated = tmp_path / "audit-notes.jsonl"
    unrelated.write_text("x\n")
    with AuditLog(path, max_bytes=1, keep=2, clock=clock) as audit:
        for i in range(6):
            clock.t = DAY0 + i
            audit.write(rec(i))
        assert audit.rotations == 5
    files = audit_files(path)
    assert [f.name for f in files] == ["audit-20240501T120004Z.jsonl", "audit-20240501T120005Z.jsonl", "audit.jsonl"]
    assert [r["seq"] for r in read_audit_all(path)] == [3, 4, 5]
    assert unrelated.exists(), "only files named like rotations are deleted"


def test_restart_rotates_a_file_left_from_an_earlier_day(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.write(rec(1))
    os.utime(path, (DAY0, DAY0))  # last written on 2024-05-01
    with AuditLog(path, rotate_daily=True, clock=Clock(DAY0 + 86400)) as audit:
        audit.write(rec(2))
        assert audit.rotations == 1
    assert [[r["seq"] for r in read_audit(f)] for f in audit_files(path)] == [[1], [2]]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        AuditLog(tmp_path / "a.jsonl", max_bytes=0)
    with pytest.raises(ValueError, match="keep"):
        AuditLog(tmp_path / "a.jsonl", keep=-1)
