"""Evidence retention: delete evidence by age, then by folder quota, oldest first.

Only what EvidenceWriter writes is touched: `*.png` files directly inside `YYYYmmdd` day folders of
the evidence folder. Symbolic links are neither followed nor deleted, and every deletion goes through
a directory descriptor opened with O_NOFOLLOW, so nothing outside the folder is ever removed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_DAY = re.compile(r"\d{8}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class PruneResult:
    """What one prune_evidence pass did and what is left."""

    deleted_files: int = 0
    freed_bytes: int = 0
    kept_files: int = 0
    kept_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _File:
    mtime: float
    day: str
    name: str
    size: int


@contextlib.contextmanager
def _open_dir(name: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    fd = os.open(name, _DIR_FLAGS | (os.O_NOFOLLOW if dir_fd is not None else 0), dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def _days(root_fd: int) -> list[str]:
    """Day folder names under the evidence folder, oldest first."""
    with os.scandir(root_fd) as entries:
        return sorted(e.name for e in entries if _DAY.fullmatch(e.name) and e.is_dir(follow_symlinks=False))


def _day_totals(root_fd: int, day: str) -> tuple[int, int, float]:
    """(files, bytes, oldest mtime) of one day folder, streamed: nothing is kept per file."""
    count = size = 0
    oldest = math.inf
    for file in _iter_day(root_fd, day):
        count += 1
        size += file.size
        oldest = min(oldest, file.mtime)
    return count, size, oldest


def _iter_day(root_fd: int, day: str) -> Iterator[_File]:
    """The evidence files of one day folder (any order); none when it vanished or must be left alone."""
    try:
        with _open_dir(day, root_fd) as day_fd, os.scandir(day_fd) as entries:
            for entry in entries:
                if not entry.name.endswith(".png"):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we looked
                if stat.S_ISREG(st.st_mode):
                    yield _File(st.st_mtime, day, entry.name, st.st_size)
    except (FileNotFoundError, NotADirectoryError):
        return  # the day folder vanished meanwhile
    except OSError as exc:  # e.g. swapped for a link (ELOOP) or unreadable: leave it alone
        log.warning("evidence retention skips %s: %s", day, exc)


def _unlink(root_fd: int, file: _File) -> bool:
    """Delete one file; False when it was already gone."""
    try:
        with _open_dir(file.day, root_fd) as day_fd:
            os.unlink(file.name, dir_fd=day_fd)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def prune_evidence(dir: Path | str, *, max_age_s: float, max_bytes: int, now: float | None = None) -> PruneResult:  # noqa: A002
    """Delete evidence older than max_age_s (by mtime), then the oldest until the total is <= max_bytes.

    Empty day folders other than today's (UTC) are removed. Files that vanish meanwhile are skipped;
    a file that cannot be deleted is logged and counted as kept. A missing folder prunes nothing.
    """
    if not max_age_s > 0:  # also refuses NaN
        raise ValueError(f"prune_evidence.max_age_s: expected > 0 seconds (inf to keep forever), got {max_age_s}")
    if max_bytes < 0:
        raise ValueError(f"prune_evidence.max_bytes: expected >= 0, got {max_bytes}")
    now = time.time() if now is None else now
    try:
        root = os.open(dir, _DIR_FLAGS)
    except FileNotFoundError:
        return PruneResult()
    # Day by day, oldest first: memory holds one day's listing, never the whole archive (which can hold
    # hundreds of thousands of files under a large quota), so a long-running daemon's footprint stays flat.
    try:
        days = _days(root)
        totals = {day: _day_totals(root, day) for day in days}
        total = sum(t[1] for t in totals.values())
        cutoff = now - max_age_s if math.isfinite(max_age_s) else -math.inf
        deleted = freed = failed = kept_files = kept_bytes = 0
        for day in days:
            count, size, oldest = totals[day]
            if oldest >= cutoff and total <= max_bytes:  # the common case: nothing to delete, nothing listed
                kept_files += count
                kept_bytes += size
                continue
            for file in sorted(_iter_day(root, day), key=lambda f: (f.mtime, f.name)):
                if file.mtime >= cutoff and total <= max_bytes:
                    kept_files += 1
                    kept_bytes += file.size
                    continue
                try:
                    if _unlink(root, file):
                        deleted += 1
                        freed += file.size
                    total -= file.size
                except OSError as exc:
                    failed += 1
                    if failed == 1:
                        log.warning("cannot delete evidence %s/%s: %s", file.day, file.name, exc)
                    kept_files += 1
                    kept_bytes += file.size
        if failed:
            log.warning("evidence retention: %d files could not be deleted", failed)
        today = time.strftime("%Y%m%d", time.gmtime(now))
        for day in days:
            if day < today:
                with contextlib.suppress(OSError):  # not empty, or gone
                    os.rmdir(day, dir_fd=root)
    finally:
        os.close(root)
    return PruneResult(deleted, freed, kept_files, kept_bytes)


class RetentionJanitor(threading.Thread):
    """Daemon thread: prunes the evidence folder at start, then every interval_s until stop_event is set.

    An exception never ends the thread: it is logged and counted in `errors`. `runs` counts finished
    passes (failed ones included), `deleted_files` and `freed_bytes` add up over all passes, and `last` is the
    result of the latest successful pass.
    """

    def __init__(
        self,
        evidence_dir: Path | str,
        max_age_s: float,
        max_bytes: int,
        interval_s: float,
        stop_event: threading.Event,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"RetentionJanitor.interval_s: expected > 0, got {interval_s}")
        super().__init__(name="evidence-retention", daemon=True)
        self.evidence_dir = Path(evidence_dir)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.interval_s = interval_s
        self.stop_event = stop_event
        self.runs = 0
        self.deleted_files = 0
        self.freed_bytes = 0
        self.errors = 0
        self.last: PruneResult | None = None

    def run(self) -> None:
        """Prune, then wait on the stop event (never sleep) for the next pass."""
        while True:
            self.prune_once()
            if self.stop_event.wait(self.interval_s):
                return

    def prune_once(self) -> PruneResult | None:
        """One pass; returns its result, or None when it failed (counted in `errors`)."""
        try:
            result = prune_evidence(self.evidence_dir, max_age_s=self.max_age_s, max_bytes=self.max_bytes)
        except Exception as exc:
            self.errors += 1
            self.runs += 1
            log.warning(
                "evidence retention failed on %s (%d errors): %s",
                self.evidence_dir,
                self.errors,
                exc,
                exc_info=self.errors == 1,
            )
            return None
        self.deleted_files += result.deleted_files
        self.freed_bytes += result.freed_bytes
        self.last = result
        self.runs += 1  # last, so that a counted run has its results in place
        if result.deleted_files:
            log.info(
                "evidence retention: deleted %d files (%.1f MB), kept %d (%.1f MB)",
                result.deleted_files,
                result.freed_bytes / 2**20,
                result.kept_files,
                result.kept_bytes / 2**20,
            )
        return result
