"""Append-only JSONL audit log: one line per inspection, the MQTT verdict payload plus `evidence`."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import IO, Any

from ..types import Inspection
from .contract import encode, verdict_payload

log = logging.getLogger(__name__)


class AuditLog:
    """Line-buffered append-only JSONL file; usable as a context manager."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, inspection: Inspection, station_id: str, evidence: Path | str | None = None) -> dict[str, Any]:
        """Append one inspection; returns the record written."""
        record = verdict_payload(inspection, station_id)
        record["evidence"] = str(evidence) if evidence is not None else None
        line = encode(record).decode("utf-8") + "\n"
        with self._lock:
            if self._file is None:
                raise ValueError(f"audit log {self.path} is closed")
            self._file.write(line)
            self.lines += 1
        return record

    def flush(self) -> None:
        """Push buffered lines to the OS (lines are already flushed one by one)."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Flush and close; further writes raise ValueError. Closing twice is harmless."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._file.close()
                self._file = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_audit(path: Path | str) -> list[dict[str, Any]]:
    """All records of an audit log, in order. A torn last line (crash mid-write) is skipped with a warning;
    a malformed line elsewhere raises ValueError naming the line number."""
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
