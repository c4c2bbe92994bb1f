"""Verdicts of a time range as CSV, read from the audit log (its rotated files included)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..publish.audit import audit_files

COLUMNS = ("decided_at", "station", "run_id", "seq", "frame", "verdict", "score", "threshold", "regions",
           "largest_region_px", "latency_ms", "reason", "model_id", "evidence")


def _iso(text: str) -> dt.datetime:
    # Python 3.10's fromisoformat does not read a trailing Z
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def parse_time(text: str | None, key: str) -> float | None:
    """An ISO 8601 time (naive = UTC) as a Unix time; ValueError names the key."""
    if text is None or not text.strip():
        return None
    try:
        when = _iso(text.strip())
    except ValueError:
        raise ValueError(f"{key}: expected an ISO 8601 time such as 2026-11-30T08:00:00Z, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def relative_evidence(text: str, roots: Sequence[Path]) -> str:
    """An evidence path relative to the first of `roots` (the output folder, then the evidence folder) that
    holds it, else its file name: the CSV never tells a reader where the device keeps its files."""
    if not text:
        return ""
    path = Path(text)
    if not path.is_absolute():
        return path.as_posix()
    for root in roots:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.name


def verdict_rows(audit_log: Path, start: float | None, end: float | None,
                 roots: Sequence[Path] = ()) -> Iterator[list[object]]:
    """One row per verdict decided in [start, end), oldest file first; unreadable lines are skipped.
    Evidence paths are relative to `roots` (see relative_evidence)."""
    for path in audit_files(audit_log):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue  # rotated away or pruned while we read: the other files still count
        for line in lines:
            try:
                rec = json.loads(line)
                if rec.get("schema") != "edge-inspector/verdict":
                    continue
                decided = _iso(rec["decided_at"]).timestamp()
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if (start is not None and decided < start) or (end is not None and decided >= end):
                continue
            boxes = rec.get("boxes") or []
            yield [rec["decided_at"], rec.get("station"), rec.get("run_id"), rec.get("seq"), rec.get("frame"),
                   rec.get("verdict"), rec.get("score"), rec.get("threshold"), len(boxes),
                   max((b.get("area", 0) for b in boxes), default=""), rec.get("latency_ms"), rec.get("reason"),
                   rec.get("model_id"), relative_evidence(str(rec.get("evidence") or ""), roots)]


def verdicts_csv(audit_log: Path, start: float | None, end: float | None,
                 roots: Sequence[Path] = ()) -> Iterator[str]:
    """The CSV text in chunks (header first), for a streamed HTTP response."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for i, row in enumerate(verdict_rows(audit_log, start, end, roots)):
        writer.writerow(row)
        if i % 500 == 499:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
