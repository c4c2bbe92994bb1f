"""Small frozen data types passed between pipeline stages.

source --Frame--> capture thread --queue--> scorer --AnomalyMap--> postprocess --Inspection--> sinks
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Verdict(str, enum.Enum):
    """Outcome for one part. FAULT means the system could not judge the part (fail closed)."""

    PASS = "PASS"
    FAIL = "FAIL"
    FAULT = "FAULT"


@dataclass(frozen=True)
class Frame:
    """One captured image with its identity on the line.

    seq: monotonically increasing per daemon run, starting at 0, no gaps (a dropped frame
    keeps its number so that the gap can be reported as a FAULT verdict).
    captured_at: wall-clock time (time.time()) when the frame was read.
    captured_mono: time.monotonic() at capture, for latency measurement.
    image: HxWx3 uint8 BGR (OpenCV order).
    source_index: position of the frame inside its source (video frame number, file index).
    name: human-readable frame name (file name for image folders, "frame_000042" for video).
    part_id: the part on the line (trigger.mode), set by the daemon when it takes the frame.
    """

    seq: int
    captured_at: float
    captured_mono: float
    image: np.ndarray
    source_index: int
    name: str
    part_id: str | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise ValueError(f"Frame.image: expected HxWx3 uint8, got shape {shape} dtype {dtype}")
        if self.seq < 0:
            raise ValueError(f"Frame.seq: expected >= 0, got {self.seq}")


@dataclass(frozen=True)
class DroppedFrame:
    """Placeholder for a frame that exists but could not be inspected; the consumer reports it as FAULT.

    kind: "queue_full" (the scorer was too slow), "unreadable" (the source could not decode it) or
    "unsupported" (decoded, but not convertible to HxWx3 uint8 BGR). reason: one human sentence.
    A failed read of a live source is not a frame and never becomes a DroppedFrame.
    """

    seq: int
    captured_at: float
    captured_mono: float
    source_index: int
    name: str
    reason: str
    kind: str = "queue_full"
    part_id: str | None = None  # the part the PLC announced (trigger) when the frame is a trigger's missing one


@dataclass(frozen=True)
class AnomalyMap:
    """Scorer output for one frame: per-pixel anomaly map at frame resolution and a scalar score."""

    map: np.ndarray
    score: float

    def __post_init__(self) -> None:
        if not isinstance(self.map, np.ndarray) or self.map.ndim != 2:
            raise ValueError(f"AnomalyMap.map: expected HxW array, got shape {getattr(self.map, 'shape', None)}")
        if self.map.dtype != np.float32:
            raise ValueError(f"AnomalyMap.map: expected float32, got {self.map.dtype}")


@dataclass(frozen=True)
class Box:
    """Axis-aligned bounding box of one defect region, in frame pixel coordinates."""

    x: int
    y: int
    w: int
    h: int
    area: int  # pixels inside the region's contour, not w*h
    peak: float  # maximum anomaly value inside the region

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"Box: expected positive size, got w={self.w} h={self.h}")

    def as_dict(self) -> dict[str, float | int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "area": self.area, "peak": round(self.peak, 6)}


@dataclass(frozen=True)
class DefectType:
    """Which defect a failed part has (model.defect_types): a class name of the type classifier and its
    probability."""

    name: str
    confidence: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"DefectType.name: expected a non-empty string, got {self.name!r:.80}")
        if not (isinstance(self.confidence, (int, float)) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"DefectType.confidence: expected a probability 0..1, got {self.confidence!r:.40}")

    def as_dict(self) -> dict[str, str | float]:
        return {"name": self.name, "confidence": round(float(self.confidence), 6)}


@dataclass(frozen=True)
class Inspection:
    """Everything decided about one frame: the unit every sink consumes."""

    seq: int
    source_index: int
    name: str
    captured_at: float
    decided_at: float
    verdict: Verdict
    score: float | None
    threshold: float
    boxes: tuple[Box, ...] = ()
    reason: str = ""
    latency_ms: float = 0.0
    inference_ms: float = 0.0
    model_id: str = ""
    part_id: str | None = None  # the PLC's part id (trigger.mode mqtt) or the camera's frame id (frame_id)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    anomaly_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    defect_type: DefectType | None = None  # FAIL only, with model.defect_types: which defect, how sure
