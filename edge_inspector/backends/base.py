"""The scorer interface every backend implements; callers never branch on the backend."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from ..model.metadata import ModelMetadata
from ..types import AnomalyMap


class BackendError(RuntimeError):
    """A backend cannot be created or loaded; one line naming the backend, model dir or file."""


class Backend(abc.ABC):
    """Scores BGR frames: anomaly map at frame resolution + scalar score, per frame."""

    name: str = "base"
    metadata: ModelMetadata

    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    @abc.abstractmethod
    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        """Score BGR uint8 HxWx3 frames of any size."""

    def warmup(self, n: int = 3) -> None:
        """Run a few dummy frames so the first real part is not slow (allocations, autotuning)."""
        h, w = self.metadata.input_size
        frame = np.full((h, w, 3), 127, np.uint8)
        for _ in range(n):
            self.infer([frame])

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory."""
