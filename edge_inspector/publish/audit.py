"""Append-only JSONL audit log: one line per inspection, the MQTT verdict payload plus `evidence`.

Other events carry a `kind` (verdict lines have none): `"kind": "command"` for a runtime command
(service/commands.py), `"kind": "label"` for a technician's defect-type label (dashboard/labels.py).
Readers that want verdicts only skip records with a `kind`.

The live file is rotated by size and/or UTC day into `{stem}-YYYYmmddTHHMMSSZ{suffix}` beside it
(e.g. `audit-20240501T000000Z.jsonl`), and only the newest `keep` rotated files are kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from .contract import encode
from .log_throttle import LogThrottle

log = logging.getLogger(__name__)

_STAMP = "%Y%m%dT%H%M%SZ"


class AuditError(UserError, OSError):
    """The audit log cannot be opened at start (a read-only or missing state directory): one line naming the
    file; the CLI exits 2, which systemd's RestartPreventExitStatus=2 does not restart (it would fail again)."""


def _utc_day(ts: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ts))


def _rotated_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(path.stem)}-(\d{{8}}T\d{{6}}Z)(?:-(\d+))?{re.escape(path.suffix)}$")


def _rotated_files(path: Path) -> list[tuple[str, int, Path]]:
    """(stamp, suffix number, path) of the rotated files of `path`, oldest first."""
    pattern = _rotated_pattern(path)
    found = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        match = pattern.match(name)
        if match:
            found.append((match[1], int(match[2] or 0), path.parent / name))
    return sorted(found)


def audit_files(path: Path | str) -> list[Path]:
    """The rotated files of the audit log at `path`, oldest first, then the live file (if it exists)."""
    live = Path(path)
    files = [p for _, _, p in _rotated_files(live)]
    return [*files, live] if live.exists() else files


class AuditLog:
    """Append-only JSONL file with size/day rotation; thread-safe, usable as a context manager.

    max_bytes: rotate before a line would push the live file past this size (None: never by size).
    rotate_daily: rotate when the UTC day differs from the day the live file was opened.
    keep: rotated files kept; the oldest beyond this are deleted after each rotation.
    clock: wall-clock source (epoch seconds), injectable for tests.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int | None = None,
        rotate_daily: bool = False,
        keep: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"AuditLog.max_bytes: expected a positive size or None, got {max_bytes}")
        if keep < 0:
            raise ValueError(f"AuditLog.keep: expected >= 0, got {keep}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.rotate_daily = rotate_daily
        self.keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self.lines = 0
        self.rotations = 0
        self.rotate_errors = 0
        self._rotate_warning = LogThrottle()  # once a minute, not once a line
        self._fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except OSError as exc:
            raise AuditError(f"output.audit_log {self.path}: cannot open for writing "
                                        f"({exc.strerror or exc}); the state directory (output.dir) must be a "
                                        "writable directory") from None
        # A file left by the previous run belongs to the day it was last written, not to today.
        if self._size > 0:
            self._day = _utc_day(os.fstat(self._require_fd()).st_mtime)

    def write(self, record: dict[str, Any], evidence: Path | str | None = None) -> dict[str, Any]:
        """Append `record` (a verdict payload) plus its `evidence` path; returns the record written.

        Raises ValueError for a record JSON cannot hold (NaN, infinity) or a closed log, and OSError
        when the line cannot be written (e.g. a full disk); in every failing case nothing reaches the file.
        """
        written = {**record, "evidence": str(evidence) if evidence is not None else None}
        self._write_line(encode(written) + b"\n")
        return written

    def write_event(self, record: dict[str, Any]) -> None:
        """Append one non-verdict record (it must carry `kind`); same guarantees as write()."""
        if "kind" not in record:
            raise ValueError("AuditLog.write_event: record needs a 'kind'")
        self._write_line(encode(record) + b"\n")

    def _write_line(self, data: bytes) -> None:
        """Rotate when due, then append one encoded line, under the lock."""
        with self._lock:
            self._require_fd()
            if self._should_rotate(len(data)):
                self._rotate()
            self._append(data)
            self.lines += 1

    def flush(self) -> None:
        """No-op kept for callers: every line is handed to the OS as it is written."""

    def close(self) -> None:
        """Close the file; further writes raise ValueError. Closing twice is harmless."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        # Unbuffered O_APPEND writes: a buffered writer on a full disk leaves a torn line and
        # replays the rest later; here a failed line is cut back off (see _append).
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._size = os.fstat(self._fd).st_size
        self._day = _utc_day(self._clock())

    def _require_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"audit log {self.path} is closed")
        return self._fd

    def _should_rotate(self, incoming: int) -> bool:
        if self._size == 0:
            self._day = _utc_day(self._clock())  # an empty file is never worth rotating
            return False
        if self.max_bytes is not None and self._size + incoming > self.max_bytes:
            return True
        return self.rotate_daily and _utc_day(self._clock()) != self._day

    def _append(self, data: bytes) -> None:
        fd = self._require_fd()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            try:
                os.ftruncate(fd, self._size)  # no half line
            except OSError:
                log.warning("%s: could not cut back a partly written line", self.path)
            raise OSError(exc.errno, f"cannot append to audit log {self.path}: {exc.strerror}") from exc
        self._size += len(data)

    def _rotate(self) -> None:
        now = self._clock()
        target = self._rotation_target(now)
        os.close(self._require_fd())
        self._fd = None
        try:
            os.rename(self.path, target)
        except OSError as exc:
            # Keep auditing into the oversized file rather than lose records; retried on the next line.
            self.rotate_errors += 1
            if self._rotate_warning.hit() is not None:
                log.warning("cannot rotate audit log %s to %s: %s", self.path, target.name, exc)
            self._open()
            return
        self.rotations += 1
        self._open()
        self._delete_old()

    def _rotation_target(self, now: float) -> Path:
        stamp = time.strftime(_STAMP, time.gmtime(now))
        same = [n for s, n, _ in _rotated_files(self.path) if s == stamp]
        # Numbered after the highest existing one so that name order stays rotation order.
        suffix = f"-{max(same) + 1}" if same else ""
        return self.path.with_name(f"{self.path.stem}-{stamp}{suffix}{self.path.suffix}")

    def _delete_old(self) -> None:
        rotated = _rotated_files(self.path)
        for _, _, old in rotated[: max(0, len(rotated) - self.keep)]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot delete old audit file %s: %s", old, exc)


def read_audit(path: Path | str) -> list[dict[str, Any]]:
    """All records of one audit file, in order. A torn last line (crash mid-write) is skipped with a
    warning; a malformed line elsewhere raises ValueError naming the line number."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                log.warning("%s:%d: torn last line skipped (%s)", path, number, exc)
                continue
            raise ValueError(f"{path}:{number}: expected one JSON object per line, got {line[:60]!r}") from exc
    return records


def read_audit_all(path: Path | str) -> list[dict[str, Any]]:
    """All records of the audit log at `path` across its rotated files and the live file, oldest first."""
    return [record for file in audit_files(path) for record in read_audit(file)]
