"""Training a defect-type classifier: its data rules (at least 2 types of 2 or more images, `good` is no type,
one-line errors naming the dir), the class weights, the stratified validation part, what the metadata records,
and `train --kind defect-types` through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.defect_type_images import write_labelled_dir

from edge_inspector.training.defect_types_data import (
    DefectTypeDataError,
    class_weights,
    load_type_data,
    stratified_split,
)
from edge_inspector.training.defect_types_fit import train_defect_types
from edge_inspector.training.train_config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = {"kind": "defect-types", "input_size": 32, "width": 32, "epochs": 2, "patience": 5,
                               "batch_size": 8, "device": "cpu"}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("layout, missing", [
    ({"crack": 5}, "found 1"),  # one type only
    ({"crack": 5, "scratch": 1}, "found 1"),  # the second type has one image
    ({"good": 9, "crack": 3}, "found 1"),  # good is not a type
    ({}, "found 0"),
])
def test_too_few_types_or_images_is_one_line_naming_the_dir(tmp_path: Path, layout: dict[str, int],
                                                           missing: str) -> None:
    import cv2

    root = tmp_path / "labels"
    (root / "test").mkdir(parents=True)
    for kind, n in layout.items():
        (root / "test" / kind).mkdir()
        for i in range(n):
            cv2.imwrite(str(root / "test" / kind / f"{i}.png"), np.full((40, 40, 3), 90 + i, np.uint8))
    with pytest.raises(DefectTypeDataError) as err:
        train_defect_types(root, tmp_path / "out", cfg(), progress=False)
    text = str(err.value)
    assert str(root) in text and missing in text and "at least 2 defect types" in text and "\n" not in text
    assert not (tmp_path / "out").exists()


def test_a_dir_without_test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DefectTypeDataError, match="no test/ folder"):
        train_defect_types(tmp_path, tmp_path / "out", cfg(), progress=False)


def test_an_unsafe_type_folder_name_is_refused(tmp_path: Path) -> None:
    root = write_labelled_dir(tmp_path / "labels", per_type=2, types=("dot", "vertical"))
    (root / "test" / "dot").rename(root / "test" / "dot;rm")
    with pytest.raises(DefectTypeDataError, match="type folder"):
        load_type_data(root, 32, None, 0.2, 0)


def test_flags_the_kind_cannot_use_are_refused(tmp_path: Path) -> None:
    root = write_labelled_dir(tmp_path / "labels", per_type=2)
    with pytest.raises(DefectTypeDataError, match="--tiles"):
        train_defect_types(root, tmp_path / "out", cfg(tiles=True), progress=False)


def test_class_weights_balance_the_classes() -> None:
    w = class_weights(np.array([10, 30, 60]))
    # total 100 over 3 classes: 100/(3*10), 100/(3*30), 100/(3*60)
    np.testing.assert_allclose(w, [100 / 30, 100 / 90, 100 / 180], rtol=1e-6)
    assert np.allclose(w * np.array([10, 30, 60]), 100 / 3)  # every class weighs the same in all
    np.testing.assert_allclose(class_weights(np.array([7, 7])), [1.0, 1.0])
    with pytest.raises(ValueError):
        class_weights(np.array([3, 0]))


def test_validation_is_stratified_with_every_class_in_both_parts() -> None:
    labels = np.array([0] * 2 + [1] * 10 + [2] * 40)
    train, val = stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert [int(np.sum(labels[val] == c)) for c in range(3)] == [1, 2, 8]
    assert [int(np.sum(labels[train] == c)) for c in range(3)] == [1, 8, 32]


def test_types_with_one_image_are_left_out_and_recorded(tmp_path: Path) -> None:
    root = write_labelled_dir(tmp_path / "labels", per_type=3, types=("dot", "vertical"))
    write_labelled_dir(root, per_type=1, types=("horizontal",), seed=5)
    result = train_defect_types(root, tmp_path / "out", cfg(epochs=1), progress=False)
    train = result.metadata.train
    assert result.metadata.arch["classes"] == ["dot", "vertical"]
    assert train["types_left_out"] == {"horizontal": 1}
    assert train["train_counts"] == {"dot": 2, "vertical": 2} and train["val_counts"] == {"dot": 1, "vertical": 1}
    assert 0.0 <= train["val_accuracy"] <= 1.0 and set(train["val_accuracy_per_class"]) == {"dot", "vertical"}
    assert result.metadata.model_id.startswith("defect-types-")
    assert result.metadata.calibration["policy"] == "none" and "unused" in result.metadata.calibration["note"]
    assert "validation accuracy" in result.summary()


def test_train_verb_trains_from_a_labelled_dir(tmp_path: Path) -> None:
    root = write_labelled_dir(tmp_path / "labels", per_type=3)
    out = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "train", "--kind", "defect-types", "--data",
                          str(root), "--out", str(tmp_path / "model"), "--input-size", "32", "--width", "32",
                          "--epochs", "1", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3 defect types" in out.stdout and "validation accuracy" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "train", "--kind", "defect-types", "--data",
                          str(tmp_path / "model"), "--out", str(tmp_path / "m2"), "--input-size", "32"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no test/ folder" in bad.stderr
    assert len([line for line in bad.stderr.splitlines() if line.strip()]) == 1, bad.stderr
