"""The durable outbox: every verdict is written here before it is published, and deleted on PUBACK.

SQLite in WAL mode (stdlib, no server, crash-safe, one file): an append is one small transaction.
With `synchronous=NORMAL` a commit survives a crash of this process (the WAL is in the OS's page
cache) but not a power cut; `FULL` fsyncs the WAL on every commit and survives both, at the cost of
one fsync per verdict. The spool is bounded by entries and by age; when a bound is hit the oldest
undelivered verdicts go first, each one counted and logged, never silently.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created REAL NOT NULL,
    reject INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


class SpoolError(UserError, RuntimeError):
    """The spool file cannot be opened or is not a spool; one line naming the file."""


@dataclass(frozen=True)
class SpoolEntry:
    """One undelivered verdict: the encoded contract payload and whether it also goes to the reject topic."""

    id: int
    run_id: str
    seq: int
    created: float
    reject: bool
    payload: bytes


@dataclass(frozen=True)
class SpoolStats:
    """Counters of one spool since it was opened (depth is current)."""

    depth: int
    oldest_age_s: float | None
    appended: int
    delivered: int
    dropped_full: int
    dropped_age: int


class Spool:
    """Append from the inspection thread, read and delete from the sender thread; thread-safe."""

    def __init__(
        self,
        path: Path | str,
        *,
        fsync: str = "normal",
        max_entries: int = 1_000_000,
        max_age_s: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fsync not in ("normal", "full"):
            raise ValueError(f"spool.fsync: expected normal or full, got {fsync!r}")
        self.path = Path(path)
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self._clock = clock
        self._closed = False
        self._next_drop_log = 1
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves; one connection shared under self._lock.
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={fsync.upper()}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(_SCHEMA)
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"spool {self.path}: cannot open ({exc})") from None
        self._appended = self._delivered = self._dropped_full = self._dropped_age = 0
        if self._depth:
            log.warning("spool %s holds %d undelivered verdicts from earlier runs; they are sent first",
                        self.path, self._depth)

    def append(self, run_id: str, seq: int, payload: bytes, reject: bool) -> int:
        """Write one verdict durably (per the fsync policy); returns its id. Raises sqlite3.Error/OSError."""
        with self._lock:
            if self._depth >= self.max_entries:
                self._drop_oldest(self._depth - self.max_entries + 1)
            cur = self._db.execute(
                "INSERT INTO outbox (run_id, seq, created, reject, payload) VALUES (?, ?, ?, ?, ?)",
                (run_id, int(seq), self._clock(), int(reject), payload),
            )
            self._depth += 1
            self._appended += 1
            return int(cur.lastrowid or 0)

    def pending(self, after_id: int = 0, limit: int = 100) -> list[SpoolEntry]:
        """Undelivered entries with id > after_id, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, run_id, seq, created, reject, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [SpoolEntry(r[0], r[1], r[2], r[3], bool(r[4]), bytes(r[5])) for r in rows]

    def mark_delivered(self, ids: list[int]) -> None:
        """Delete acknowledged entries (one transaction for the batch)."""
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                removed = 0
                for entry_id in ids:
                    removed += self._db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth -= removed
            self._delivered += removed

    def expire(self) -> int:
        """Drop undelivered entries older than max_age_s; returns how many (counted as dropped_age).

        Walks from the oldest id in chunks (ids grow with time), so it never scans a large backlog.
        """
        cutoff = self._clock() - self.max_age_s
        gone = 0
        while True:
            with self._lock:
                n = self._db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 1000) AND created < ?",
                    (cutoff,),
                ).rowcount
                self._depth -= n
                self._dropped_age += n
            gone += n
            if n < 1000:
                break
        if gone:
            log.error("spool: dropped %d undelivered verdicts older than %.0f h (spool.max_age_hours)",
                      gone, self.max_age_s / 3600)
        return gone

    def _drop_oldest(self, n: int) -> None:
        gone = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (n,)
        ).rowcount
        self._depth -= gone
        self._dropped_full += gone
        if self._dropped_full >= self._next_drop_log:  # the first drop, then every 1000th: no log flood
            self._next_drop_log = self._dropped_full + 1000
            log.error("spool full (%d entries, spool.max_entries): dropped the oldest undelivered verdicts, "
                      "%d so far", self.max_entries, self._dropped_full)

    def stats(self) -> SpoolStats:
        """Current depth, age of the oldest entry and counters."""
        with self._lock:
            row = self._db.execute("SELECT created FROM outbox ORDER BY id LIMIT 1").fetchone()
            oldest = None if row is None or row[0] is None else max(0.0, self._clock() - float(row[0]))
            return SpoolStats(self._depth, oldest, self._appended, self._delivered,
                              self._dropped_full, self._dropped_age)

    @property
    def depth(self) -> int:
        """Undelivered entries right now."""
        return self._depth

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("spool %s: checkpoint at close failed: %s", self.path, exc)
            self._db.close()
