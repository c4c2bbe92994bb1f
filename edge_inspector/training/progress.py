"""Training progress on stderr: epoch, step, loss, it/s and ETA on one redrawn line (no tqdm)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TrainProgress:
    """`step(epoch, step, loss)` redraws the bar (throttled); `close()` ends the line.

    On a TTY the line is redrawn in place; otherwise (systemd journal, CI logs) a plain line is written at
    most every `log_interval` seconds so logs stay readable.
    """

    def __init__(self, label: str, epochs: int, steps_per_epoch: int, stream: TextIO | None = None,
                 min_interval: float = 0.2, log_interval: float = 10.0) -> None:
        self.label = label
        self.epochs = epochs
        self.steps = max(1, steps_per_epoch)
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = min_interval if self._tty else log_interval
        self._start = time.monotonic()
        self._last = float("-inf")
        self._done = 0
        self._drawn = False

    def step(self, epoch: int, step: int, loss: float) -> None:
        """Record one finished optimisation step (1-based epoch and step)."""
        self._done += 1
        now = time.monotonic()
        total = self.epochs * self.steps
        # A TTY redraws at each epoch end too; logs get a line only every log_interval (and at the end).
        boundary = (step >= self.steps) if self._tty else (self._done >= total)
        if now - self._last < self._interval and not boundary:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        eta = max(0.0, total - self._done) / rate if rate > 0 else 0.0
        width = 20
        filled = min(width, int(width * self._done / total))
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] epoch {epoch}/{self.epochs} "
                f"step {step}/{self.steps} loss {loss:.4f} {rate:.2f} it/s eta {_fmt(eta)}")
        self.stream.write(("\r" + line.ljust(100)) if self._tty else line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the bar's line (TTY only)."""
        if self._drawn and self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
