"""Technicians' defect-type labels of rejects, kept as a dataset in the MVTec layout (docs/dashboard.md):

    LABELS_DIR/test/<type>/<station>-<run_id>-<seq>.png   a labelled defect (the raw frame, byte for byte)
    LABELS_DIR/train/good/<station>-<run_id>-<seq>.png    a false reject: a good image for the next training
    LABELS_DIR/labels.csv                                  the append-only index, one line per label

so `edge-inspector train --kind defect-types --data LABELS_DIR` trains from it. A part has one label: labelling
it again moves its file. Every file appears whole (a temporary file renamed into place) and every label is
undone when its index line or its audit line cannot be written, so a full disk leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic_file import write_atomic
from ..config.label_names import GOOD, MAX_NAME, name_problem
from .label_request import Label, LabelError

MAX_FILES = 100_000  # label images kept; beyond this a new one is refused (507)
MAX_TYPES = 256  # type folders under test/; a new type beyond this is refused (507)
MAX_LINE = 2048  # bytes of one index line (every field is bounded well below this)
MAX_FRAME = 120  # characters of a frame name kept in the index
RECENT = 200  # labels GET /api/labels returns
INDEX = "labels.csv"
COLUMNS = ("time_utc", "station", "run_id", "seq", "frame", "defect_type", "author", "note", "client", "file")
FULL = (errno.ENOSPC, errno.EDQUOT)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)[:64] or "_"


def _cell(value: object) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: quote it as text.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _uncell(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text


def _csv_line(cells: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode()


class LabelStore:
    """The label dataset under `root`; thread-safe (one label is written at a time)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._files: int | None = None  # label images, counted once on first use and then kept
        self._recent: tuple[tuple[int, int, int], list[dict[str, Any]]] | None = None  # (index stat, rows)

    @staticmethod
    def file_name(station: str, run_id: str, seq: int) -> str:
        """The part's file name: station, run and seq name one part across the daemon's restarts."""
        return f"{_safe(station)}-{_safe(run_id)}-{seq}.png"

    def folder(self, defect_type: str) -> Path:
        """Where a label of `defect_type` goes: train/good for a false reject, test/<type> otherwise."""
        return self.root / "train" / GOOD if defect_type == GOOD else self.root / "test" / defect_type

    def save(self, source: Path | None, station: str, run_id: str, seq: int, frame: str, label: Label, client: str,
             audit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Copy (or, for a relabel, move) the part's raw frame `source` into its type's folder, index it and
        audit it; returns the audit record. LabelError: 404 without a frame, 507 on a full disk or a cap."""
        name = self.file_name(station, run_id, seq)
        target = self.folder(label.defect_type) / name
        with self._lock:
            old = self._existing(name)
            if old is None and (source is None or not source.is_file()):
                raise LabelError(404, f"seq {seq}: no raw frame was kept for this part (a FAULT, low disk or a busy "
                                      "image worker): nothing to label")
            self._check_caps(old, target.parent)
            record = {"kind": "label", "ts": round(time.time(), 3), "station": station, "run_id": run_id, "seq": seq,
                      "frame": frame[:MAX_FRAME], "defect_type": label.defect_type, "author": label.author,
                      "note": label.note, "client": client[:64], "file": self._rel(target),
                      "previous": None if old is None else self._rel(old)}
            try:
                undo = self._place(source, old, target)
            except OSError as exc:
                raise self._disk_error(target, exc) from None
            try:
                cut = self._index(record)
            except OSError as exc:
                undo()
                raise self._disk_error(self.root / INDEX, exc) from None
            except LabelError:
                undo()
                raise
            try:
                audit(record)
            except (OSError, ValueError) as exc:
                cut()
                undo()
                raise LabelError(507 if getattr(exc, "errno", None) in FULL else 500,
                                 f"audit log: label not recorded ({str(exc)[:200]}); nothing was kept") from None
            if old is None:
                self._files = (self._files or 0) + 1
            return record

    def recent(self, limit: int = RECENT) -> list[dict[str, Any]]:
        """The newest `limit` index lines, newest first (a torn or foreign line is skipped); read again only
        when the index changed, so a page polling it costs one stat."""
        path = self.root / INDEX
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                key = (st.st_size, st.st_mtime_ns, limit)
                if self._recent is not None and self._recent[0] == key:
                    return self._recent[1]
                start = max(0, st.st_size - (limit + 1) * MAX_LINE)
                f.seek(start)
                tail = f.read((limit + 1) * MAX_LINE).decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        if start > 0:
            tail = tail[1:]  # the first line read may be cut
        rows = []
        for cells in csv.reader(tail):
            if len(cells) != len(COLUMNS) or cells[0] == COLUMNS[0] or not cells[3].isdigit():
                continue
            rows.append({**{k: _uncell(v) for k, v in zip(COLUMNS, cells)}, "seq": int(cells[3])})
        rows = rows[::-1][:limit]
        self._recent = (key, rows)
        return rows

    def types_seen(self) -> list[str]:
        """The type folders under test/ (valid names only, at most MAX_TYPES), sorted."""
        try:
            names = [e.name for e in os.scandir(self.root / "test") if e.is_dir()]
        except FileNotFoundError:
            return []
        return sorted(n for n in names if name_problem(n) is None and n != GOOD)[:MAX_TYPES]

    # ---------------------------------------------------------------- inside the lock

    def _folders(self) -> list[Path]:
        test = self.root / "test"
        found = [test / e.name for e in os.scandir(test) if e.is_dir()] if test.is_dir() else []
        return [self.root / "train" / GOOD, *found]

    def _existing(self, name: str) -> Path | None:
        return next((f / name for f in self._folders() if (f / name).is_file()), None)

    def _check_caps(self, old: Path | None, folder: Path) -> None:
        if self._files is None:
            self._files = sum(1 for f in self._folders() if f.is_dir() for e in os.scandir(f)
                              if e.name.endswith(".png"))
        if old is None and self._files >= MAX_FILES:
            raise LabelError(507, f"labels_dir: already holds {self._files} labelled images (the limit is "
                                  f"{MAX_FILES}); train from them and move them away")
        if not folder.is_dir() and len(self._folders()) > MAX_TYPES:
            raise LabelError(507, f"labels_dir: already holds {MAX_TYPES} defect types; no new type is started")

    def _place(self, source: Path | None, old: Path | None, target: Path) -> Callable[[], None]:
        """Put the part's image at `target`; returns how to take it back."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if old == target:
            return lambda: None
        if old is not None:
            os.replace(old, target)  # the same folder tree: a rename, never a copy
            return lambda: os.replace(target, old)
        assert source is not None
        with source.open("rb") as src:
            write_atomic(target, lambda dst: shutil.copyfileobj(src, dst))
        return lambda: target.unlink(missing_ok=True)

    def _index(self, record: dict[str, Any]) -> Callable[[], None]:
        """Append the record's line to labels.csv (with the header when new); returns how to cut it off."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["ts"]))
        line = _csv_line([when, *(_cell(record[k]) for k in COLUMNS[1:9]), record["file"]])
        if len(line) > MAX_LINE:
            raise LabelError(400, f"label: its index line would be {len(line)} bytes (limit {MAX_LINE})")
        path = self.root / INDEX
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            data = (_csv_line(list(COLUMNS)) if size == 0 else b"") + line
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no half line
                raise
        finally:
            os.close(fd)

        def cut() -> None:
            with contextlib.suppress(OSError):
                os.truncate(path, size)
        return cut

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def _disk_error(path: Path, exc: OSError) -> LabelError:
        full = exc.errno in FULL
        return LabelError(507 if full else 500, f"labels_dir: cannot write {path.name[:MAX_NAME + 40]} "
                                                f"({exc.strerror or type(exc).__name__}); nothing was kept")
