"""The server's persistent record of the results it has emitted: event history and de-duplication in one file.

Every verdict is written here (committed) before its ResultReady event fires and before the broker's
acknowledgement goes out, so a server killed at any point neither loses a verdict (unacknowledged: the broker
redelivers it to the persistent session) nor emits one twice (already here: dropped as a duplicate). Clients
that were not subscribed read what they missed as event history (event_history.py serves it).

One SQLite file, `results.sqlite` in the state directory (`:memory:` without one: nothing survives a restart).
Bounded: the oldest rows go beyond `max_results`, beyond `max_age_s` and beyond `max_bytes` of live pages. A
file that is not ours (not SQLite, another schema, over twice the byte cap, failing its quick check) is moved
aside to `results.sqlite.bad-<UTC time>` with one warning and a fresh file is started; a state directory the
server cannot write is a one-line OpcuaStateError (fix the deployment), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..config.redact import cap
from ..errors import UserError

log = logging.getLogger(__name__)
FILE_NAME = "results.sqlite"
SCHEMA_VERSION = 1
DAY_US = 86_400 * 10**6
PRUNE_EVERY = 100  # inserts between two checks of the bounds
Key = tuple[str, str, int]


class OpcuaStateError(UserError, OSError):
    """The state directory or its file cannot be used: one line naming the path and why."""


@dataclass(frozen=True)
class StoredResult:
    """One emitted result: its event time (unique, increasing, microseconds since 1970) and the verdict message."""

    row: int
    time_us: int
    payload: bytes


class ResultStore:
    """The results table (see module doc). Not thread-safe: the server's event loop is its only user."""

    def __init__(self, state_dir: Path | None, max_results: int, max_age_s: float, max_bytes: int) -> None:
        self.max_results, self.max_age_s, self.max_bytes = max_results, max_age_s, max_bytes
        self.path = None if state_dir is None else Path(state_dir) / FILE_NAME
        self.moved_aside: Path | None = None
        self._db = self._open()
        self._inserts = 0
        row = self._db.execute("SELECT MAX(time_us) FROM results").fetchone()
        self._last_us = int(row[0] or 0)

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return _schema(sqlite3.connect(":memory:"))
        _usable_dir(self.path.parent)
        problem = _check_file(self.path, 2 * self.max_bytes)
        if problem is not None:
            self.moved_aside = self.path.with_name(f"{FILE_NAME}.bad-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            log.warning("OPC UA result history %s %s: moved aside to %s, starting a fresh history", self.path,
                        problem, self.moved_aside.name)
            for suffix in ("", "-wal", "-shm", "-journal"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    side.replace(Path(f"{self.moved_aside}{suffix}"))
        try:
            return _schema(sqlite3.connect(self.path))
        except sqlite3.Error as exc:
            raise OpcuaStateError(f"opcua.state_dir {self.path}: cannot create the result history ({exc})") from None

    def has(self, key: Key) -> bool:
        """Whether the result with this (station, run_id, seq) was already recorded (and so emitted)."""
        return self._db.execute("SELECT 1 FROM results WHERE station=? AND run_id=? AND seq=?", key).fetchone() \
            is not None

    def recent_keys(self, n: int) -> list[Key]:
        """The keys of the last `n` results, oldest first (to seed the in-memory de-duplication)."""
        rows = self._db.execute("SELECT station, run_id, seq FROM results ORDER BY time_us DESC LIMIT ?", (n,))
        return [(str(a), str(b), int(c)) for a, b, c in reversed(rows.fetchall())]

    def record(self, key: Key, payload: bytes) -> StoredResult:
        """Commit one result with a fresh event time: now, or 1 µs after the last one (times never repeat, never
        go back, also across restarts and clock steps), so a time is a continuation point of the history."""
        now_us = time.time_ns() // 1000
        self._last_us = max(now_us, self._last_us + 1)
        with self._db:
            cur = self._db.execute("INSERT INTO results (station, run_id, seq, time_us, payload) VALUES (?,?,?,?,?)",
                                   (*key, self._last_us, payload))
        self._inserts += 1
        if self._inserts % PRUNE_EVERY == 0:
            self.prune()
        return StoredResult(int(cur.lastrowid or 0), self._last_us, payload)

    def last(self) -> StoredResult | None:
        """The newest result (what LastResult shows after a restart)."""
        return next(iter(self.read(None, None, 1)), None)

    def read(self, start_us: int | None, end_us: int | None, limit: int) -> list[StoredResult]:
        """Results by event time as OPC UA's ReadEventDetails asks: forward from `start_us` (to `end_us` when
        given); backward (newest first) when only `end_us` is given, when none is, or when start > end."""
        forward = start_us is not None and (end_us is None or start_us <= end_us)
        if forward:
            lo, hi = start_us, end_us
        else:  # newest first from the later bound: start (when after end), else end
            lo, hi = (None, end_us) if start_us is None else (end_us, start_us)
        sql = "SELECT id, time_us, payload FROM results WHERE time_us >= ? AND time_us <= ? ORDER BY time_us " + (
            "ASC" if forward else "DESC") + " LIMIT ?"
        rows = self._db.execute(sql, (lo if lo is not None else 0, hi if hi is not None else 2**62, limit))
        # typeof checks: a row another program wrote with other types is skipped, not a crash
        return [StoredResult(r, t, p) for r, t, p in rows.fetchall()
                if isinstance(r, int) and isinstance(t, int) and isinstance(p, bytes)]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def prune(self) -> int:
        """Drop the oldest rows beyond the bounds; returns how many went."""
        before = self.count()
        with self._db:
            self._db.execute("DELETE FROM results WHERE time_us < ?", (self._last_us - int(self.max_age_s * 1e6),))
            self._db.execute("DELETE FROM results WHERE id NOT IN (SELECT id FROM results ORDER BY time_us DESC "
                             "LIMIT ?)", (self.max_results,))
            while self._live_bytes() > self.max_bytes and self.count() > 1:
                self._db.execute("DELETE FROM results WHERE id IN (SELECT id FROM results ORDER BY time_us LIMIT ?)",
                                 (max(1, self.count() // 10),))
        return before - self.count()

    def _live_bytes(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0] - self._db.execute(
            "PRAGMA freelist_count").fetchone()[0]
        return int(pages) * int(self._db.execute("PRAGMA page_size").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _schema(db: sqlite3.Connection) -> sqlite3.Connection:
    db.execute("PRAGMA journal_mode=WAL")  # a commit survives a SIGKILL; readers never block the writer
    db.execute("PRAGMA synchronous=FULL")
    if db.execute("PRAGMA user_version").fetchone()[0] == 0:
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY, station TEXT NOT NULL, "
                       "run_id TEXT NOT NULL, seq INTEGER NOT NULL, time_us INTEGER NOT NULL UNIQUE, "
                       "payload BLOB NOT NULL, UNIQUE (station, run_id, seq))")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return db


def _usable_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OpcuaStateError(f"opcua.state_dir {cap(str(folder), 200)}: cannot create it ({exc.strerror})") from None
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        raise OpcuaStateError(f"opcua.state_dir {cap(str(folder), 200)}: not readable and writable by this user")


def _check_file(path: Path, max_size: int) -> str | None:
    """Why the file at `path` is not a result history of ours (None: it is, or there is none yet)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OpcuaStateError(f"opcua.state_dir {cap(str(path), 200)}: cannot read it ({exc.strerror})") from None
    if size > max_size:
        return f"is {size} bytes, over twice opcua.history_max_mib"
    if not os.access(path, os.R_OK | os.W_OK):
        raise OpcuaStateError(f"opcua.state_dir {cap(str(path), 200)}: not readable and writable by this user")
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                return f"has schema version {cap(version, 40)}, expected {SCHEMA_VERSION}"
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return "fails SQLite's quick check"
            cols = [r[1] for r in db.execute("PRAGMA table_info(results)").fetchall()]
            if (cols or version) and cols != ["id", "station", "run_id", "seq", "time_us", "payload"]:
                return "has another table layout"
            newest = db.execute("SELECT MAX(time_us) FROM results").fetchone()[0] if cols else None
            if newest is not None and (not isinstance(newest, int) or newest > time.time_ns() // 1000 + DAY_US):
                return f"has event times in the future ({cap(newest, 40)} µs)"
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"is not a result history ({cap(str(exc), 120)})"
    return None
