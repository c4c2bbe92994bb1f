"""A tiny progress bar on stderr for long jobs (training, synthesis, evaluation); no tqdm dependency."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`update(done, total, **fields)` redraws one line; `close()` ends it. Plain lines when not a TTY."""

    def __init__(self, label: str, stream: TextIO | None = None, min_interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._start = time.monotonic()
        self._last = 0.0
        self._tty = self.stream.isatty()
        self._drawn = False

    def update(self, done: int, total: int, **fields: object) -> None:
        now = time.monotonic()
        final = done >= total
        interval = self.min_interval if self._tty else 5.0
        if not final and now - self._last < interval:
            return
        self._last = now
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * done / total) if total else width
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"{rate:.1f}/s eta {eta:.0f}s {extra}")
        if self._tty:
            self.stream.write("\r" + line[:160].ljust(80))
        else:
            self.stream.write(line + "\n")
        self._drawn = True
        self.stream.flush()

    def close(self) -> None:
        if self._drawn and self._tty:
            self.stream.write("\n")
            self.stream.flush()
