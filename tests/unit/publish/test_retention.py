"""Evidence naming, low-disk skip, retention by age and quota, the janitor thread, and a real full disk.

Real files throughout; the full-disk test mounts a real 200 KiB tmpfs (needs root, else skipped with the reason).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.ci import skip_unless_ci

from edge_inspector.publish import (
    AuditLog,
    EvidenceWriter,
    PruneResult,
    RetentionJanitor,
    prune_evidence,
    read_audit,
)
from edge_inspector.types import Inspection, Verdict

DAY0 = 1714564800.0  # 2024-05-01T12:00:00Z
DAY_S = 86400.0


def inspection(seq: int = 42, verdict: Verdict = Verdict.FAIL, image: np.ndarray | None = None) -> Inspection:
    return Inspection(
        seq=seq,
        source_index=seq,
        name=f"part_{seq}.png",
        captured_at=DAY0,
        decided_at=DAY0 + 0.05,
        verdict=verdict,
        score=0.8,
        threshold=0.5,
        image=image,
    )


def frame(value: int = 100) -> np.ndarray:
    return np.full((16, 16, 3), value, np.uint8)


def make_file(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


# --- evidence names and low disk -------------------------------------------------------------------------------


def test_evidence_names_carry_the_run_id_so_two_runs_never_collide(tmp_path: Path) -> None:
    first = EvidenceWriter(tmp_path, run_id="20240501T120000Z")
    second = EvidenceWriter(tmp_path, run_id="20240501T130000Z")  # a restart: seq starts over
    a = first.write(inspection(image=frame(1)), frame(2))
    b = second.write(inspection(image=frame(3)), frame(4))
    assert a == tmp_path / "20240501" / "20240501T120000Z_00000042_FAIL.png"
    assert b == tmp_path / "20240501" / "20240501T130000Z_00000042_FAIL.png"
    assert sorted(p.name for p in (tmp_path / "20240501").iterdir()) == [
        "20240501T120000Z_00000042_FAIL.png",
        "20240501T120000Z_00000042_FAIL_raw.png",
        "20240501T130000Z_00000042_FAIL.png",
        "20240501T130000Z_00000042_FAIL_raw.png",
    ]
    assert first.written == second.written == 2
    assert EvidenceWriter(tmp_path).path_for(inspection()).name == "00000042_FAIL.png", "no run id, no prefix"
    with pytest.raises(ValueError, match="run_id"):
        EvidenceWriter(tmp_path, run_id="../x")


def test_low_disk_skips_counts_and_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "not" / "yet" / "there"
    free = shutil.disk_usage(tmp_path).free
    writer = EvidenceWriter(target, run_id="r", min_free_bytes=free + 2**30)
    with caplog.at_level(logging.WARNING, logger="edge_inspector.publish.evidence"):
        results = [writer.write(inspection(seq, image=frame()), frame()) for seq in range(5)]
    assert results == [None] * 5
    assert writer.skipped_low_disk == 5 and writer.written == 0
    assert not target.exists()
    assert len([r for r in caplog.records if "evidence skipped" in r.getMessage()]) == 1, "once a minute, not per frame"
    assert writer.write(inspection(1, Verdict.PASS, frame()), frame()) is None
    assert writer.skipped_low_disk == 5, "a PASS that is not kept anyway is not a skip"
    roomy = EvidenceWriter(target, run_id="r", min_free_bytes=1)
    assert roomy.write(inspection(image=frame()), frame()) is not None and roomy.skipped_low_disk == 0


# --- prune_evidence ------------------------------------------------------------------------------------------------


def test_prune_by_age_removes_old_files_and_their_empty_day_folder(tmp_path: Path) -> None:
    old = make_file(tmp_path / "20240401" / "r_00000001_FAIL.png", 100, DAY0 - 30 * DAY_S)
    old_raw = make_file(tmp_path / "20240401" / "r_00000001_FAIL_raw.png", 50, DAY0 - 30 * DAY_S)
    edge = make_file(tmp_path / "20240422" / "r_00000002_FAIL.png", 10, DAY0 - 9 * DAY_S)
    recent = make_file(tmp_path / "20240501" / "r_00000003_FAIL.png", 10, DAY0 - 60)
    (tmp_path / "20240420").mkdir()  # already empty
    result = prune_evidence(tmp_path, max_age_s=10 * DAY_S, max_bytes=10**9, now=DAY0)
    assert result == PruneResult(deleted_files=2, freed_bytes=150, kept_files=2, kept_bytes=20)
    assert not old.exists() and not old_raw.exists() and edge.exists() and recent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240422", "20240501"]


def test_prune_by_quota_deletes_oldest_first_exactly(tmp_path: Path) -> None:
    files = [
        make_file(tmp_path / ("20240430" if i < 3 else "20240501") / f"r_{i:08d}_FAIL.png", 1000, DAY0 - 100 + i)
        for i in range(5)
    ]
    (tmp_path / "20240501" / "empty-today").mkdir()  # not a png, ignored
    result = prune_evidence(tmp_path, max_age_s=DAY_S * 365, max_bytes=2500, now=DAY0)
    assert result == PruneResult(deleted_files=3, freed_bytes=3000, kept_files=2, kept_bytes=2000)
    assert [f.exists() for f in files] == [False, False, False, True, True]
    assert not (tmp_path / "20240430").exists(), "emptied day folder removed"
    assert prune_evidence(tmp_path, max_age_s=DAY_S * 365, max_bytes=2000, now=DAY0).deleted_files == 0


def test_prune_keeps_todays_empty_folder_and_ignores_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "20240501").mkdir()
    notes = make_file(tmp_path / "notes.png", 10, 0)  # not inside a day folder
    log_file = make_file(tmp_path / "20240401" / "readme.txt", 10, 0)  # not a png
    result = prune_evidence(tmp_path, max_age_s=1, max_bytes=0, now=DAY0)
    assert result == PruneResult()
    assert (tmp_path / "20240501").is_dir() and notes.exists() and log_file.exists()


def test_prune_never_follows_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    precious = make_file(outside / "precious.png", 100, 0)
    evidence = tmp_path / "evidence"
    (evidence / "20240401").mkdir(parents=True)
    (evidence / "20240401" / "link_FAIL.png").symlink_to(precious)
    (evidence / "20240402").symlink_to(outside, target_is_directory=True)
    result = prune_evidence(evidence, max_age_s=1, max_bytes=0, now=DAY0)
    assert result.deleted_files == 0 and precious.exists()
    assert (evidence / "20240401" / "link_FAIL.png").is_symlink()


def test_prune_a_missing_folder_is_a_no_op_and_bad_limits_are_refused(tmp_path: Path) -> None:
    assert prune_evidence(tmp_path / "none", max_age_s=1, max_bytes=0) == PruneResult()
    with pytest.raises(ValueError, match="max_age_s"):
        prune_evidence(tmp_path, max_age_s=0, max_bytes=0)
    with pytest.raises(ValueError, match="max_bytes"):
        prune_evidence(tmp_path, max_age_s=1, max_bytes=-1)


# --- the janitor thread ----------------------------------------------------------------------------------------------


def wait_for(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_janitor_prunes_at_start_and_stops_promptly(tmp_path: Path) -> None:
    old = make_file(tmp_path / "20200101" / "r_00000001_FAIL.png", 100, time.time() - 10 * DAY_S)
    stop = threading.Event()
    janitor = RetentionJanitor(tmp_path, max_age_s=DAY_S, max_bytes=10**9, interval_s=3600, stop_event=stop)
    assert janitor.daemon
    janitor.start()
    assert wait_for(lambda: janitor.runs == 1)
    assert not old.exists() and janitor.deleted_files == 1 and janitor.freed_bytes == 100
    assert janitor.last is not None and janitor.last.deleted_files == 1 and janitor.errors == 0
    started = time.monotonic()
    stop.set()
    janitor.join(timeout=2)
    assert not janitor.is_alive() and time.monotonic() - started < 1.0, "waits on the event, not a sleep"


def test_janitor_survives_errors(tmp_path: Path) -> None:
    not_a_dir = make_file(tmp_path / "file", 1, 0)
    stop = threading.Event()
    janitor = RetentionJanitor(not_a_dir, max_age_s=1, max_bytes=0, interval_s=0.01, stop_event=stop)
    janitor.start()
    try:
        assert wait_for(lambda: janitor.errors >= 3)
        assert janitor.is_alive() and janitor.last is None and janitor.runs >= 3
    finally:
        stop.set()
        janitor.join(timeout=2)
    assert not janitor.is_alive()


# --- a real full disk ------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        skip_unless_ci(f"cannot mount a 200 KiB tmpfs to fill a real disk: {exc}")
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        skip_unless_ci(f"cannot mount a 200 KiB tmpfs to fill a real disk (needs root): {reason}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=30)


def test_a_full_disk_raises_oserror_naming_the_file(tiny_disk: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # ~12 KiB PNG, incompressible
    writer = EvidenceWriter(tiny_disk / "evidence", run_id="r")
    with pytest.raises(OSError) as caught:
        for seq in range(100):
            writer.write(inspection(seq, Verdict.FAULT, noise), noise)
    message = str(caught.value)
    failed = writer.path_for(inspection(writer.written, Verdict.FAULT))
    assert str(failed) in message and "\n" not in message
    assert not failed.exists(), "a partly written image is removed"
    assert 0 < writer.written < 100

    path = tiny_disk / "audit.jsonl"
    with AuditLog(path) as audit, pytest.raises(OSError, match="audit.jsonl"):
        for seq in range(100_000):
            audit.write({"seq": seq, "verdict": "FAULT", "reason": "x" * 200})
    records = read_audit(path)  # raises on a malformed line; a torn last line would be dropped silently, so:
    assert path.read_bytes().endswith(b"\n") and len(records) == audit.lines, "no half line on a full disk"
