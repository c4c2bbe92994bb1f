"""Model metadata (metadata.json next to the weights): everything needed to score like the checkpoint.

Preprocessing, thresholds and score statistics travel with the model so every backend (torch now,
ONNX/TensorRT engines later) scores the same way. No torch import here: the runtime must not need it.
"""

from __future__ import annotations

import datetime as dt
import json
import reprlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..json_numbers import finite_float
from .kinds import KINDS

SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.pt"


class MetadataError(UserError, ValueError):
    """metadata.json is missing, unreadable or inconsistent; the message names file and key."""


# Python's json reads and writes NaN/Infinity; a NaN threshold would silently pass or fail every part.
FINITE_KEYS = ("image_threshold", "pixel_threshold", "mean", "std")


@dataclass
class ModelMetadata:
    """What a trained model is and how it must be fed and thresholded."""

    model_id: str
    kind: str
    input_size: tuple[int, int]  # (height, width) the network sees
    arch: dict[str, Any]
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    roi: tuple[int, int, int, int] | None = None  # (x, y, w, h) crop of the frame before resizing
    part_mask: str | None = None  # file in the model dir: 255 = not the part (model/part_mask.py)
    image_threshold: float = 0.5
    pixel_threshold: float = 0.5
    score_stats: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    # Set by `export`: how the ONNX graph in this directory is fed (see export/onnx_export.py), the source
    # model's hash and the versions that wrote it. Empty for a directory written by `train`.
    export: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    def save(self, model_dir: Path) -> Path:
        """Write metadata.json into model_dir; non-finite thresholds or normalisation raise MetadataError."""
        path = model_dir / METADATA_FILE
        # Refuse here too: a NaN threshold written by training would only surface when the line starts.
        _check_finite(path, asdict(self))
        model_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, model_dir: Path) -> ModelMetadata:
        """Read and check metadata.json; errors name the file and the key."""
        path = Path(model_dir) / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MetadataError(f"{path}: not found (is {model_dir} a model dir written by `train`?)") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise MetadataError(f"{path}: unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise MetadataError(f"{path}: expected a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise MetadataError(f"{path}: schema_version {version!r} not supported (expected {SCHEMA_VERSION})")
        known = {f.name for f in fields(cls)}
        for key in ("model_id", "kind", "input_size", "arch"):
            if key not in data:
                raise MetadataError(f"{path}: missing key '{key}'")
        unknown = sorted(set(data) - known)
        if unknown:
            raise MetadataError(f"{path}: unknown key '{unknown[0]}'")
        if data["kind"] not in KINDS:
            raise MetadataError(f"{path}: kind: expected one of {', '.join(KINDS)}, got {data['kind']!r}")
        size = data["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise MetadataError(f"{path}: input_size: expected [height, width], got {size!r}")
        data["input_size"] = tuple(size)
        for key in ("mean", "std"):
            value = data.get(key, getattr(cls, key))
            if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_number(v) for v in value)):
                raise MetadataError(f"{path}: {key}: expected 3 numbers (RGB), got {value!r}")
            data[key] = tuple(float(v) for v in value)
        _check_finite(path, data, keys=("mean", "std"))
        if any(v <= 0 for v in data["std"]):
            raise MetadataError(f"{path}: std: expected positive values, got {list(data['std'])}")
        roi = data.get("roi")
        if roi is not None:
            if not (isinstance(roi, list) and len(roi) == 4 and all(isinstance(v, int) for v in roi)
                    and roi[2] > 0 and roi[3] > 0):
                raise MetadataError(f"{path}: roi: expected [x, y, width, height] or null, got {roi!r}")
            data["roi"] = tuple(roi)
        mask = data.get("part_mask")
        if mask is not None and not (isinstance(mask, str) and mask and "/" not in mask and "\\" not in mask
                                     and not mask.startswith(".")):
            raise MetadataError(f"{path}: part_mask: expected a file name in the model directory or null, "
                                f"got {mask!r}")
        for key in ("image_threshold", "pixel_threshold"):
            if key in data and not _is_number(data[key]):
                raise MetadataError(f"{path}: {key}: expected a number, got {data[key]!r}")
        _check_finite(path, data, keys=("image_threshold", "pixel_threshold"))
        for key in ("arch", "export"):
            if key in data and not isinstance(data[key], dict):
                raise MetadataError(f"{path}: {key}: expected an object, got {data[key]!r}")
        return cls(**data)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_finite(path: Path, data: dict[str, Any], keys: tuple[str, ...] = FINITE_KEYS) -> None:
    """Raise MetadataError naming the first key in `keys` that holds a NaN or infinite number."""
    for key in keys:
        value = data.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if _is_number(v) and finite_float(v) is None:  # NaN, infinities, an int beyond a float's range
                raise MetadataError(f"{path}: {key}: expected a finite number, got {reprlib.repr(v)}")
