"""Triggered line-camera video: one new part per frame, with per-frame ground truth in JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .defects import DEFECT_TYPES, render_sample
from .textures import check_category

TRUTH_SCHEMA = "edge-inspector/line-truth"
TRUTH_VERSION = 1
_VIDEO_STREAM = 0x71DE0F00  # independent of the data-set stream: line parts are never training parts
_FOURCC = {".avi": "MJPG", ".mp4": "mp4v"}


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one video frame; bbox is [x, y, w, h] of the defect mask, or None if good."""

    index: int
    defective: bool
    defect_type: str | None
    bbox: tuple[int, int, int, int] | None


def truth_path(video_path: Path) -> Path:
    """Where the ground truth of `video_path` lives: `line.avi` -> `line.truth.json`."""
    return Path(video_path).with_suffix(".truth.json")


def _schedule(seed: int, n_frames: int, defect_rate: float) -> list[str | None]:
    rng = np.random.default_rng([seed, _VIDEO_STREAM, 0])
    defective = rng.random(n_frames) < defect_rate
    if n_frames >= 2 and 0 < defect_rate < 1:  # a line video always shows both outcomes
        if not defective.any():
            defective[rng.integers(n_frames)] = True
        if defective.all():
            defective[rng.integers(n_frames)] = False
    types = rng.integers(len(DEFECT_TYPES), size=n_frames)
    return [DEFECT_TYPES[int(t)] if d else None for d, t in zip(defective, types, strict=True)]


def render_line_video(out_path: Path, category: str = "brushed_metal", *, n_frames: int = 60,
                      defect_rate: float = 0.25, size: int = 256, fps: float = 10.0,
                      seed: int = 1) -> list[FrameTruth]:
    """Write a line video (.avi as MJPG, or .mp4 as mp4v) and its `<stem>.truth.json`; return the truth.

    Every frame shows one new part; about `defect_rate` of them carry one random defect.
    """
    check_category(category)
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in _FOURCC:
        raise ValueError(f"line video {out_path}: expected a .avi or .mp4 file name, got suffix {suffix!r}")
    if n_frames < 1:
        raise ValueError(f"n_frames: expected >= 1, got {n_frames}")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError(f"defect_rate: expected 0..1, got {defect_rate}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter.fourcc(*_FOURCC[suffix]), float(fps), (size, size), True)
    if not writer.isOpened():
        raise ValueError(f"line video {out_path}: cv2.VideoWriter could not open it with codec {_FOURCC[suffix]}")
    truth: list[FrameTruth] = []
    try:
        for i, defect in enumerate(_schedule(seed, n_frames, defect_rate)):
            sample = render_sample(category, np.random.default_rng([seed, _VIDEO_STREAM, 1, i]), size, defect)
            writer.write(sample.image)
            bbox = tuple(int(v) for v in cv2.boundingRect(sample.mask)) if defect else None
            truth.append(FrameTruth(i, defect is not None, defect, bbox))  # type: ignore[arg-type]
    finally:
        writer.release()
    doc = {"schema": TRUTH_SCHEMA, "version": TRUTH_VERSION, "category": category, "fps": float(fps), "size": size,
           "frames": [{"index": t.index, "defective": t.defective, "defect_type": t.defect_type,
                       "bbox": list(t.bbox) if t.bbox else None} for t in truth]}
    truth_path(out_path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return truth


def load_truth(video_path: Path) -> list[FrameTruth]:
    """Read the ground truth written next to `video_path` by `render_line_video`."""
    path = truth_path(video_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("schema") != TRUTH_SCHEMA or doc.get("version") != TRUTH_VERSION:
        raise ValueError(f"{path}: expected schema {TRUTH_SCHEMA} v{TRUTH_VERSION}, "
                         f"got {doc.get('schema')!r} v{doc.get('version')!r}")
    out = []
    for f in doc["frames"]:
        bbox = f["bbox"]
        out.append(FrameTruth(int(f["index"]), bool(f["defective"]), f["defect_type"],
                              (int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3])) if bbox else None))
    return out
