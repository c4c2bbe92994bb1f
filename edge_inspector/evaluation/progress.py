"""Progress on stderr for long jobs (training, synthesis, evaluation, benchmarks); no tqdm dependency.

On a TTY one line is redrawn in place; otherwise (systemd journal, CI logs) a plain line is written at
most every `log_interval` seconds, and always at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`update(done, total, text, **fields)` redraws the bar (throttled); `close()` ends the line."""

    def __init__(self, label: str, stream: TextIO | None = None, min_interval: float = 0.2,
                 log_interval: float = 5.0) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = min_interval if self._tty else log_interval
        self._start = time.monotonic()
        self._last = float("-inf")
        self._drawn = False

    @property
    def is_tty(self) -> bool:
        return self._tty

    def update(self, done: int, total: int, text: str = "", force: bool = False, **fields: object) -> None:
        """Record progress; draws when the throttle allows, at the end, or when `force` is set."""
        now = time.monotonic()
        if not (force or done >= total) and now - self._last < self._interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        eta = max(0, total - done) / rate if rate > 0 else 0.0
        width = 20
        filled = min(width, int(width * done / total)) if total else width
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        line = " ".join(part for part in (
            f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", text,
            f"{rate:.2f}/s eta {_fmt(eta)}", extra) if part)
        self.stream.write(("\r" + line[:160].ljust(100)) if self._tty else line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the bar's line (TTY only)."""
        if self._drawn and self._tty:
            self.stream.write("\n")
            self.stream.flush()


class TrainProgress:
    """Training progress: `step(epoch, step, loss)` after every optimisation step; epoch, step, loss,
    rate and ETA on one line (redrawn at each epoch end on a TTY).

    budget_s is the run's wall-clock budget: when the steps left would outlast it, the total shown is the
    steps the budget allows at the measured rate, so the ETA is the budget's end, not the epoch count's.
    """

    def __init__(self, label: str, epochs: int, steps_per_epoch: int, stream: TextIO | None = None,
                 min_interval: float = 0.2, log_interval: float = 10.0, budget_s: float | None = None) -> None:
        self.epochs = epochs
        self.steps = max(1, steps_per_epoch)
        self.budget_s = budget_s
        self._bar = ProgressBar(label, stream, min_interval, log_interval)
        self._done = 0
        self._start = time.monotonic()

    def step(self, epoch: int, step: int, loss: float) -> None:
        """Record one finished optimisation step (1-based epoch and step)."""
        self._done += 1
        total, epochs = self.epochs * self.steps, f"/{self.epochs}"
        if self.budget_s is not None:
            elapsed = max(time.monotonic() - self._start, 1e-9)
            by_budget = self._done + int(self._done / elapsed * max(0.0, self.budget_s - elapsed))
            if by_budget < total:
                total, epochs = by_budget, f" (budget {_fmt(self.budget_s)})"
        self._bar.update(self._done, total, f"epoch {epoch}{epochs} step {step}/{self.steps} loss {loss:.4f}",
                         force=self._bar.is_tty and step >= self.steps)

    def close(self) -> None:
        self._bar.close()


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
