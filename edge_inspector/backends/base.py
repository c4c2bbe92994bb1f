"""The scorer interface every backend implements; callers never branch on the backend."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..model.metadata import ModelMetadata
from ..model.preprocess import map_to_frame
from ..model.tiling import TileSpec
from ..types import AnomalyMap


class BackendError(UserError, RuntimeError):
    """A backend cannot be created or loaded; one line naming the backend, model dir or file."""


PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class BackendOptions:
    """Tuning knobs from the config's `model:` section; each backend uses those that apply to it.

    threads: CPU threads for inference (0 = the library's default).
    precision: "auto" lets the backend choose (fp16 on a GPU, fp32 on a CPU); int8 needs an engine
    built or exported for it. torch on CUDA checks fp16/bf16 against fp32 at warm-up and falls back to
    fp32 when a verdict would change (precision_parity.py).
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
    """Scores BGR frames: anomaly map at frame resolution + scalar score, per frame.

    `infer` is the one loop every backend shares (closed check, chunks of `max_batch`, map back to the
    frame, AnomalyMap); a backend implements `score_batch` (and `is_open`, and `scope` if its device needs
    one around the calls). Wrappers that are not per-batch scorers (tiling, test doubles) override `infer`.
    Metadata is read on every call, so a wrapper may swap `metadata` (tiling clears the ROI for its tiles).
    """

    name: str = "base"
    metadata: ModelMetadata
    max_batch: int = 1

    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        """Score BGR uint8 HxWx3 frames of any size; maps come back at each frame's resolution."""
        if not self.is_open():
            raise BackendError(f"backend {self.name} is closed")
        out: list[AnomalyMap] = []
        with self.scope():
            for i in range(0, len(images), self.max_batch):
                chunk = images[i:i + self.max_batch]
                maps, scores = self.score_batch(chunk)
                # map_to_frame copies out of any reused buffer before the next chunk overwrites it.
                out.extend(AnomalyMap(map_to_frame(m, img.shape, self.metadata), float(s))
                           for m, s, img in zip(maps, scores, chunk))
        return out

    def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """At most max_batch frames -> (float32 maps [n, h, w] at the model's input size, scores [n])."""
        raise NotImplementedError(f"{type(self).__name__} implements neither score_batch nor infer")

    def is_open(self) -> bool:
        """False once close() has run: infer then refuses in one line."""
        return True

    def scope(self) -> contextlib.AbstractContextManager[object]:
        """Held around one infer call's batches (a device context, an inference mode); none by default."""
        return contextlib.nullcontext()

    def reconstruct(self, image: np.ndarray) -> np.ndarray | None:
        """The model's reconstruction of one BGR frame as a BGR uint8 image at the model's input size, or None
        when this backend or model kind has none (an exported scoring graph returns the map and score only)."""
        return None

    def warmup_batches(self) -> list[int]:
        """Every batch size the hot path sends to the device: 1 and max_batch (a shorter chunk pads or
        reuses the max_batch buffers)."""
        return sorted({1, self.max_batch})

    def warmup(self, n: int = 3) -> None:
        """Run a few dummy frames at every batch size of the hot path so the first real part is not slow
        (allocations, autotuning, graph capture)."""
        h, w = self.metadata.input_size
        frame = np.full((h, w, 3), 127, np.uint8)
        for batch in self.warmup_batches():
            for _ in range(n):
                self.infer([frame] * batch)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory."""
