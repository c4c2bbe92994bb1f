"""A profile's revision history read page by page, each revision file parsed once (cached by its mtime and size).

GET /api/history and the MQTT `history` command list revisions. Parsing all of them on every call made one
call cost over a second with 1,000 revisions; here the folder listing gives the revision numbers (from the
file names, no parsing), a page picks at most `MAX_LIMIT` of them, and only those files are read, each at
most once while it is unchanged. The reader is thread-safe and never runs on the inspection thread by itself:
its callers choose the thread (the dashboard's HTTP threads).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .profile import load_profile, profile_path

MAX_LIMIT = 100  # revisions per page at most
CACHE_ENTRIES = 4096  # parsed revision summaries kept (a few hundred bytes each)


class HistoryReader:
    """page(root, product, station, ...) -> one page of revisions, with the total and the paging used."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries = entries
        self._parsed: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
        self._listings: dict[str, tuple[int, list[tuple[int, str]]]] = {}  # folder -> (mtime_ns, [(rev, path)])

    def revisions(self, root: Path, product: str, station: str) -> list[tuple[int, str]]:
        """(revision, file) of every saved revision, oldest first; re-listed only when the folder changed."""
        folder = profile_path(root, product, station).parent / "history"
        key = str(folder)
        try:
            mtime = folder.stat().st_mtime_ns
        except OSError:
            return []
        with self._lock:
            cached = self._listings.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        pattern = re.compile(rf"^{re.escape(station)}\.r(\d{{4,}})\.yaml$")
        found: list[tuple[int, str]] = []
        with os.scandir(folder) as it:
            for entry in it:
                if (m := pattern.match(entry.name)) and entry.is_file():
                    found.append((int(m.group(1)), entry.path))
        found.sort()
        with self._lock:
            self._listings[key] = (mtime, found)
        return found

    def summary(self, path: str) -> dict[str, Any]:
        """One revision's history line; the file is parsed again only when its mtime or size changed."""
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._parsed.get(key)
            if hit is not None:
                self._parsed.move_to_end(key)
                return hit
        p = load_profile(Path(path))
        line = {"revision": p.revision, "created_at": p.created_at, "author": p.author, "reason": p.reason,
                "image_threshold": float(p.thresholds["image"]), "pixel_threshold": float(p.thresholds["pixel"])}
        with self._lock:
            self._parsed[key] = line
            while len(self._parsed) > self._entries:
                self._parsed.popitem(last=False)
        return line

    def page(self, root: Path, product: str, station: str, *, limit: int = MAX_LIMIT, offset: int = 0,
             before: int | None = None) -> dict[str, Any]:
        """A page of revisions: counting from the newest below `before` (all when None), skip `offset`, take at
        most `limit`; the page's lines are oldest first.

        ValueError names the parameter when limit is not 1..MAX_LIMIT or offset/before is negative.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit: expected an integer 1..{MAX_LIMIT}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset: expected an integer >= 0, got {offset}")
        if before is not None and before < 1:
            raise ValueError(f"before: expected a revision >= 1, got {before}")
        listed = self.revisions(root, product, station)
        newest_first = [r for r in reversed(listed) if before is None or r[0] < before]
        chosen = newest_first[offset:offset + limit]
        lines = []
        for _, path in reversed(chosen):  # oldest first within the page, as `threshold history` prints
            try:
                lines.append(self.summary(path))
            except (OSError, ValueError) as exc:  # a damaged revision file: named, the others still listed
                lines.append({"revision": int(re.findall(r"\.r(\d+)\.yaml$", path)[0]),
                              "error": str(exc).splitlines()[0][:200]})
        return {"total": len(listed), "limit": limit, "offset": offset, "before": before, "history": lines}


READER = HistoryReader()  # one cache for the process: GET /api/history and the MQTT `history` command share it
