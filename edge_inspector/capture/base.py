"""What every frame source shares: the base class, the result of one read and the opening error.

Its own module so that each kind of source (sources.py, genicam.py, memory.py) and the capture thread
import the base types from below, and the registry that opens a kind imports the kinds: no module of the
wing needs another that needs it back.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


class SourceError(UserError, RuntimeError):
    """A source cannot be opened (missing file, empty folder, camera absent)."""


@dataclass(frozen=True)
class ReadResult:
    """One read. kind: "frame" (image set), "unreadable" (a frame exists but cannot be decoded),
    "failed" (a live source delivered nothing: not a frame), "idle" (a triggered source is alive and waiting
    for its next trigger: neither a frame nor a failure) or "end" (a finite source is exhausted)."""

    kind: str
    image: np.ndarray | None = None
    source_index: int = -1
    name: str = ""
    reason: str = ""


END = ReadResult("end")


class FrameSource(abc.ABC):
    """Base of all sources. `live` sources never block the line and may be reopened."""

    live = False

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> ReadResult: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or file."""

    @property
    def fps(self) -> float | None:
        return None

    @abc.abstractmethod
    def describe(self) -> str: ...
