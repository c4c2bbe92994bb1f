"""Profiles: YAML round trip, revisions and history, strict validation, model fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_inspector.calibration import (
    Profile,
    ProfileError,
    list_history,
    load_profile,
    model_fingerprint,
    save_profile,
)
from edge_inspector.model.metadata import ModelMetadata


def make_profile(**overrides: Any) -> Profile:
    fields: dict[str, Any] = dict(
        product="cookie", station="line1", author="ana", reason="new lighting",
        model={"model_id": "scratch-1234", "fingerprint": "abcd:fp32"},
        policy={"name": "target-false-reject", "params": {"target": 0.005, "confidence": 0.95}},
        thresholds={"image": 0.52, "pixel": 0.48}, regions={"min_area": 30, "min_peak": 0.5},
        samples={"good": 14, "defect": 0},
        expected={"false_reject_rate": 0.0, "false_reject_upper": 0.1926, "escape_rate": None, "escape_upper": None},
        roi=[10, 20, 300, 200], warnings=["only 14 good images"])
    fields.update(overrides)
    return Profile(**fields)


def test_round_trip_and_revisions(tmp_path: Path) -> None:
    path = save_profile(make_profile(), tmp_path)
    assert path == tmp_path / "cookie" / "line1.yaml"
    assert load_profile(path) == make_profile(revision=1, created_at=load_profile(path).created_at)
    second = save_profile(make_profile(reason="more images", thresholds={"image": 0.6, "pixel": 0.5}), tmp_path)
    assert load_profile(second).revision == 2 and load_profile(second).reason == "more images"
    history = list_history(tmp_path, "cookie", "line1")
    assert [(p.revision, p.reason) for p in history] == [(1, "new lighting"), (2, "more images")]
    assert (tmp_path / "cookie" / "history" / "line1.r0002.yaml").read_text() == path.read_text()
    assert not list((tmp_path / "cookie").glob(".*.tmp"))


def _write(tmp_path: Path, mutate: Any) -> Path:
    data = make_profile().to_dict()
    mutate(data)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda d: d.update(colour="red"), "colour: unknown key"),
    (lambda d: d["thresholds"].update(imgae=0.5), "thresholds.imgae: unknown key"),
    (lambda d: d.pop("reason"), "reason: missing key"),
    (lambda d: d["regions"].pop("min_peak"), "regions.min_peak: missing key"),
    (lambda d: d.update(reason="  "), "reason: expected a non-empty string"),
    (lambda d: d.update(revision=0), "revision: expected an integer >= 1"),
    (lambda d: d.update(revision="2"), "revision: expected an integer >= 1"),
    (lambda d: d.update(created_at="2026-11-30T12:00:00+01:00"), "created_at: expected a UTC ISO time"),
    (lambda d: d.update(roi=[0, 0, 0, 10]), "roi: expected [x, y, width, height]"),
    (lambda d: d["thresholds"].update(image=".5"), "thresholds.image: expected a finite number"),
    (lambda d: d["thresholds"].update(image=float("nan")), "thresholds.image: expected a finite number"),
    (lambda d: d["regions"].update(min_area=-1), "regions.min_area: expected an integer >= 0"),
    (lambda d: d["expected"].update(false_reject_upper=1.5), "expected.false_reject_upper: expected a rate"),
    (lambda d: d["policy"].update(name="f1"), "policy.name: expected target-false-reject"),
    (lambda d: d["expected"].update(escape_rate=0.1), "expected.escape_rate: null exactly when"),
    (lambda d: d.update(schema_version=2), "schema_version: 2 not supported"),
    (lambda d: d.update(samples={"good": True, "defect": 0}), "samples.good: expected an integer >= 1"),
])
def test_strict_validation_names_file_and_key(tmp_path: Path, mutate: Any, key: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}") and "\n" not in message


def test_bad_names_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="station '../x'"):
        save_profile(make_profile(station="../x"), tmp_path)
    with pytest.raises(FileNotFoundError, match="profile not found"):
        load_profile(tmp_path / "none.yaml")


def _meta(**kw: Any) -> ModelMetadata:
    return ModelMetadata(model_id="scratch-1234", kind="scratch", input_size=(64, 64), arch={}, **kw)


def test_fingerprint_train_dir_vs_export(tmp_path: Path) -> None:
    train = tmp_path / "train"
    _meta().save(train)
    weights = b"weights" * 500_000  # > 1 MiB: read in several chunks
    (train / "model.pt").write_bytes(weights)
    sha = hashlib.sha256(weights).hexdigest()
    assert model_fingerprint(train) == f"{sha[:16]}:fp32"
    export = tmp_path / "export"
    _meta(export={"source_sha256": sha, "precision": "fp32", "format": "onnx"}).save(export)
    assert model_fingerprint(export) == model_fingerprint(train)
    int8 = tmp_path / "int8"
    _meta(export={"source_sha256": sha, "precision": "int8"}).save(int8)
    assert model_fingerprint(int8) == f"{sha[:16]}:int8"

    profile = make_profile(model={"model_id": "scratch-1234", "fingerprint": model_fingerprint(train)})
    profile.check_model(export)  # same weights, same precision: accepted
    with pytest.raises(ProfileError) as info:
        profile.check_model(int8, source="calibration/cookie/line1.yaml")
    message = str(info.value)
    assert "\n" not in message and f"{sha[:16]}:int8" in message and "edge-inspector calibrate" in message
    assert message.startswith("calibration/cookie/line1.yaml (cookie/line1 r1) was calibrated for model")


def test_a_saved_profile_never_holds_anchors_so_it_loads_again(tmp_path: Path) -> None:
    """load_profile refuses anchors and aliases (issue 17 item 6); save_profile must never write one, even when
    two values are the same object (PyYAML's dumper would anchor the second)."""
    shared = [0.1, 0.2]
    path = save_profile(make_profile(policy={"name": "fixed", "params": {"a": shared, "b": shared}}), tmp_path)
    assert "&" not in path.read_text() and "*" not in path.read_text()
    assert load_profile(path).policy["params"] == {"a": [0.1, 0.2], "b": [0.1, 0.2]}
