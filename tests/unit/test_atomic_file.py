"""write_atomic: the one way the package replaces a file others read (configs, units, profiles, labels, plans)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from edge_inspector.atomic_file import write_atomic


def test_the_new_file_has_the_content_and_exactly_the_mode_asked_for_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "station.yaml"
    target.write_text("old")
    old_umask = os.umask(0)  # the widest umask: only the explicit mode can keep others out
    try:
        write_atomic(target, b"password_file: x\n", mode=0o640)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"password_file: x\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["station.yaml"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "profile.yaml"
    target.write_text("revision: 3\n")

    def half_then_fail(fh: BinaryIO) -> None:
        fh.write(b"revision: 4\nthresh")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "revision: 3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.yaml"]


def test_readers_never_see_half_a_file_while_writers_race(tmp_path: Path) -> None:
    target = tmp_path / "plan.engine"
    bodies = [bytes([i]) * 200_000 for i in range(1, 5)]
    write_atomic(target, bodies[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            seen.add(data[:1] + data[-1:] + len(data).to_bytes(4, "big"))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=lambda b=b: [write_atomic(target, b) for _ in range(20)]) for b in bodies]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    whole = {b[:1] + b[-1:] + len(b).to_bytes(4, "big") for b in bodies}
    assert seen <= whole, "a reader saw a mixed or partial file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.engine"]
