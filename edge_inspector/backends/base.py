"""The scorer interface every backend implements; callers never branch on the backend."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model.metadata import ModelMetadata
from ..model.tiling import TileSpec
from ..types import AnomalyMap


class BackendError(RuntimeError):
    """A backend cannot be created or loaded; one line naming the backend, model dir or file."""


PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class BackendOptions:
    """Tuning knobs from the config's `model:` section; each backend uses those that apply to it.

    threads: CPU threads for inference (0 = the library's default).
    precision: "auto" lets the backend choose (fp16 on a GPU, fp32 on a CPU); int8 needs an engine
    built or exported for it.
    max_batch: the largest batch one inference call sends to the device.
    cuda_graph: capture the fixed-shape scoring step as a CUDA graph (torch on CUDA).
    tiling: score frames tile by tile at native resolution (model/tiling.py); create_backend wraps.
    """

    threads: int = 0
    precision: str = "auto"
    max_batch: int = 8
    cuda_graph: bool = True
    tiling: TileSpec | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.threads < 0 or self.max_batch < 1:
            raise ValueError(f"threads >= 0 and max_batch >= 1 expected, got {self.threads}, {self.max_batch}")


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

    def reconstruct(self, image: np.ndarray) -> np.ndarray | None:
        """The model's reconstruction of one BGR frame as a BGR uint8 image at the model's input size, or None
        when this backend or model kind has none (an exported scoring graph returns the map and score only)."""
        return None

    def warmup(self, n: int = 3) -> None:
        """Run a few dummy frames so the first real part is not slow (allocations, autotuning)."""
        h, w = self.metadata.input_size
        frame = np.full((h, w, 3), 127, np.uint8)
        for _ in range(n):
            self.infer([frame])

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory."""
