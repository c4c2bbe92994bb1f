"""Calibration profiles: calibration/<product>/<station>.yaml plus history/<station>.rNNNN.yaml per revision.

A profile is what a technician signs off: thresholds, region filters, ROI, the policy that produced them, the
samples behind them and the rates to expect, tied to one model by its fingerprint. Every change is a new
revision (previous + 1) and the old file stays in history/, so later runtime changes can append revisions too.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..atomic_file import write_atomic
from ..config.yaml_safe import YamlFileError, read_yaml
from ..export.onnx_export import file_sha256
from ..model.metadata import WEIGHTS_FILE, ModelMetadata
from ..model.tiling import TileSpec
from .validate import ProfileError, check_profile_dict

SCHEMA_VERSION = 1
MAX_PROFILE_BYTES = 1024 * 1024  # a profile is a few KB; checked before the file is read
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # product/station become file names


@dataclass
class Profile:
    """One revision of the thresholds for a product on a station (see calibration/README.md)."""

    product: str
    station: str
    author: str
    reason: str
    model: dict[str, str]  # {model_id, fingerprint}
    policy: dict[str, Any]  # {name, params}
    thresholds: dict[str, float]  # {image, pixel}
    regions: dict[str, float]  # {min_area (px), min_peak (map value)}
    samples: dict[str, int]  # {good, defect}
    expected: dict[str, float | None]  # {false_reject_rate, false_reject_upper, escape_rate, escape_upper}
    roi: list[int] | None = None  # [x, y, w, h] in frame pixels
    ignore_mask: str | None = None  # PNG path relative to the profile file; nonzero pixels are not inspected
    warnings: list[str] = field(default_factory=list)
    revision: int = 1
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML's key order."""
        return asdict(self)

    def check_model(self, model_dir: Path, source: str = "profile", tiling: TileSpec | None = None) -> None:
        """Raise ProfileError (one line) unless model_dir, scored with `tiling`, is what this profile was
        calibrated for (tiled and single-pass scores differ: a profile fits one way of scoring)."""
        meta = ModelMetadata.load(Path(model_dir))
        found = model_fingerprint(model_dir, tiling)
        if found != self.model["fingerprint"]:
            raise ProfileError(
                f"{source} ({self.product}/{self.station} r{self.revision}) was calibrated for model "
                f"{self.model['model_id']} (fingerprint {self.model['fingerprint']}), the loaded model is "
                f"{meta.model_id} ({found}): recalibrate with `edge-inspector calibrate --model {model_dir} "
                f"--product {self.product} --station {self.station} ...`")


def tiling_tag(tiling: TileSpec | None) -> str:
    """':tiles<overlap>@<working size>:<score>' for tiled scoring, '' for single-pass."""
    if tiling is None:
        return ""
    score = tiling.score if tiling.score == "max" else f"top{tiling.top_k}"
    return f":tiles{tiling.overlap}@{tiling.working_size or 'native'}:{score}"


def model_fingerprint(model_dir: Path, tiling: TileSpec | None = None) -> str:
    """'<sha256 of the source weights, 16 hex>:<precision>[<tiling tag>]'; an export carries its source's hash,
    so a train dir and its fp32 export share the hash while an int8 export differs in precision."""
    return _weights_fingerprint(Path(model_dir)) + tiling_tag(tiling)


def _weights_fingerprint(model_dir: Path) -> str:
    model_dir = Path(model_dir)
    meta = ModelMetadata.load(model_dir)
    if meta.export:
        sha, precision = meta.export.get("source_sha256"), meta.export.get("precision")
        if not isinstance(sha, str) or not isinstance(precision, str):
            raise ProfileError(f"{model_dir / 'metadata.json'}: export: expected source_sha256 and precision")
        return f"{sha[:16]}:{precision}"
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: weights file not found (needed for the model fingerprint)")
    return f"{file_sha256(weights)[:16]}:fp32"


def profile_path(root: Path, product: str, station: str) -> Path:
    """root/<product>/<station>.yaml; names must be safe file names."""
    for key, value in (("product", product), ("station", station)):
        if not _NAME.match(value or ""):
            raise ProfileError(f"{key} {value!r}: use letters, digits, '.', '_' or '-' (it names a file)")
    return Path(root) / product / f"{station}.yaml"


def load_profile(path: Path) -> Profile:
    """Read and strictly validate a profile; ProfileError names the file and the key. The shared safe reader
    (config/yaml_safe.py) caps the size, refuses anchors, aliases and duplicate keys."""
    path = Path(path)
    try:
        data = read_yaml(path, what="profile", max_bytes=MAX_PROFILE_BYTES).data
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: profile not found") from None
    except YamlFileError as exc:
        raise ProfileError(str(exc)) from None
    check_profile_dict(path, data, SCHEMA_VERSION)
    return Profile(**data)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes a value shared twice out twice: load_profile refuses anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def next_revision(root: Path, product: str, station: str) -> int:
    """1 for a new product/station, otherwise the current profile's revision + 1."""
    path = profile_path(root, product, station)
    return load_profile(path).revision + 1 if path.is_file() else 1


def save_profile(profile: Profile, root: Path) -> Path:
    """Write root/<product>/<station>.yaml atomically (revision = current + 1) and keep a copy in history/."""
    path = profile_path(root, profile.product, profile.station)
    profile.revision = next_revision(root, profile.product, profile.station)
    check_profile_dict(path, profile.to_dict(), SCHEMA_VERSION)  # never write what load would refuse
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(profile.to_dict(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=110)
    write_atomic(path, text.encode("utf-8"))  # readers see the old or the new profile, never half of one
    history = history_path(root, profile.product, profile.station, profile.revision)
    history.parent.mkdir(exist_ok=True)
    shutil.copyfile(path, history)
    return path


def history_path(root: Path, product: str, station: str, revision: int) -> Path:
    """root/<product>/history/<station>.r<revision:04d>.yaml"""
    return profile_path(root, product, station).parent / "history" / f"{station}.r{revision:04d}.yaml"


def list_history(root: Path, product: str, station: str) -> list[Profile]:
    """Every saved revision of a product/station, oldest first."""
    folder = profile_path(root, product, station).parent / "history"
    pattern = re.compile(rf"^{re.escape(station)}\.r(\d{{4,}})\.yaml$")
    found = [(int(m.group(1)), p) for p in folder.glob(f"{station}.r*.yaml") if (m := pattern.match(p.name))]
    return [load_profile(p) for _, p in sorted(found)]
