"""A source of frames already in memory: measures the pipeline from "a frame in memory", without decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import END, FrameSource, ReadResult


class MemorySource(FrameSource):
    """Hands out `images` in turn, `count` frames in all, then ends (a finite source, like a file).

    The arrays are handed over as they are, not copied: a camera driver delivers a filled buffer the
    same way. Pace it with the capture thread's realtime pacing (config `source.fps`).
    """

    def __init__(self, images: Sequence[np.ndarray], count: int) -> None:
        if not images:
            raise ValueError("MemorySource: expected at least one image")
        if count < 0:
            raise ValueError(f"MemorySource.count: expected >= 0, got {count}")
        self.images, self.count = list(images), count
        self._pos = 0

    def open(self) -> None:
        self._pos = 0

    def read(self) -> ReadResult:
        if self._pos >= self.count:
            return END
        index = self._pos
        self._pos += 1
        return ReadResult("frame", self.images[index % len(self.images)], index, f"frame_{index:06d}")

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        h, w = self.images[0].shape[:2]
        return f"memory ({len(self.images)} images of {w}x{h}, {self.count} frames)"
