"""metadata.json: non-finite thresholds and normalisation are refused with one line naming file and key.

No torch here: metadata is read by the runtime and by validate-config, which must not need it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edge_inspector.errors import USER_ERRORS
from edge_inspector.model.metadata import MetadataError, ModelMetadata

BASE = {"model_id": "m1", "kind": "scratch", "input_size": [64, 64], "arch": {}, "schema_version": 1}


def write_raw(model_dir: Path, text: str) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "metadata.json").write_text(text, encoding="utf-8")
    return model_dir


@pytest.mark.parametrize(("key", "literal", "shown"), [
    ("image_threshold", "NaN", "nan"),
    ("image_threshold", "Infinity", "inf"),
    ("pixel_threshold", "-Infinity", "-inf"),
    ("pixel_threshold", "NaN", "nan"),
    ("mean", "[0.5, NaN, 0.5]", "nan"),
    ("std", "[0.2, 0.2, NaN]", "nan"),
    ("std", "[Infinity, 0.2, 0.2]", "inf"),
])
def test_non_finite_values_are_refused(tmp_path: Path, key: str, literal: str, shown: str) -> None:
    # Written by hand: Python's json accepts these literals, which is how a NaN used to slip through.
    text = json.dumps(BASE)[:-1] + f', "{key}": {literal}}}'
    model_dir = write_raw(tmp_path / "model", text)
    with pytest.raises(MetadataError) as info:
        ModelMetadata.load(model_dir)
    message = str(info.value)
    assert message == f"{model_dir / 'metadata.json'}: {key}: expected a finite number, got {shown}"


def test_finite_values_load(tmp_path: Path) -> None:
    text = json.dumps({**BASE, "image_threshold": 0.25, "pixel_threshold": 1, "mean": [0, 0, 0]})
    meta = ModelMetadata.load(write_raw(tmp_path, text))
    assert meta.image_threshold == 0.25 and meta.pixel_threshold == 1 and meta.mean == (0.0, 0.0, 0.0)


def test_save_refuses_a_nan_threshold(tmp_path: Path) -> None:
    meta = ModelMetadata(model_id="m1", kind="scratch", input_size=(64, 64), arch={}, image_threshold=math.nan)
    with pytest.raises(MetadataError, match="image_threshold: expected a finite number, got nan"):
        meta.save(tmp_path / "model")
    assert not (tmp_path / "model" / "metadata.json").exists()


def test_metadata_error_is_a_user_error() -> None:
    assert issubclass(MetadataError, USER_ERRORS)
