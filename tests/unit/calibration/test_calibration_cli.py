"""`edge-inspector calibrate` end to end on a tiny random-init model and a synthetic MVTec-layout data set."""

from __future__ import annotations

import argparse
import csv
import importlib
from pathlib import Path

import pytest
import yaml

from edge_inspector import errors
from edge_inspector.calibration import CalibrationError
from edge_inspector.cli import calibrate

cli_main = importlib.import_module("edge_inspector.cli.main")  # the package re-exports main() as `main`

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch = pytest.importorskip("torch")
    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.metadata import ModelMetadata
    from edge_inspector.model.networks import build_model
    from edge_inspector.synth import generate_dataset

    root = tmp_path_factory.mktemp("cal")
    torch.manual_seed(0)
    arch = {"encoder_layers": 2, "width": 32}
    model = build_model("scratch", (64, 64), arch)
    save_model(model, ModelMetadata(model_id="scratch-test", kind="scratch", input_size=(64, 64), arch=arch),
               root / "model")
    generate_dataset(root / "data", "brushed_metal", n_train=8, n_test_good=8, n_test_defect_per_type=1, size=64,
                     seed=0)
    return root / "model", root / "data" / "brushed_metal"


@pytest.fixture
def run_cli():  # type: ignore[no-untyped-def]
    """The real entry point, as `edge-inspector` runs it."""
    assert issubclass(CalibrationError, errors.USER_ERRORS)  # printed as one line, exit 2
    return cli_main.main


def base_args(model: Path, data: Path, out: Path) -> list[str]:
    return ["calibrate", "--model", str(model), "--good", str(data), "--product", "plate", "--station", "s1",
            "--out", str(out), "--backend", "torch", "--device", "cpu", "--threads", "1", "--author", "ana"]


def test_calibrate_writes_profile_history_and_report(setup, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model, data = setup
    out = tmp_path / "calibration"
    args = base_args(model, data, out)
    assert run_cli([*args, "--defects", str(data), "--reason", "first", "--min-area", "5", "--roi", "0,0,64,60"]) == 0
    printed = capsys.readouterr().out
    profile = yaml.safe_load((out / "plate" / "s1.yaml").read_text())
    assert profile["revision"] == 1 and profile["author"] == "ana" and profile["reason"] == "first"
    assert profile["samples"]["good"] == 8 and profile["samples"]["defect"] >= 1  # test/good only, not train
    assert profile["roi"] == [0, 0, 64, 60] and profile["regions"]["min_area"] == 5
    # 8 good images cannot support 0.5 %: the warning must say so and the summary must show it
    assert any("only 8 good images" in w for w in profile["warnings"]) and "WARNING: only 8 good" in printed
    assert profile["expected"]["false_reject_upper"] == pytest.approx(1 - 0.05 ** (1 / 8))
    report = out / "plate" / "reports" / "s1.r0001"
    for name in ("scores.png", "roc.png", "rates.png"):
        assert (report / name).read_bytes()[:8] == PNG
    rows = list(csv.DictReader((report / "per_image.csv").open()))
    assert len(rows) == profile["samples"]["good"] + profile["samples"]["defect"]
    assert {r["label"] for r in rows} == {"good", "defect"}
    threshold = profile["thresholds"]["image"]
    for r in rows:  # score-only rule, region column as written: checks the CSV is self-consistent
        expect = "FAIL" if float(r["score"]) >= threshold and r["region"] == "1" else "PASS"
        assert r["verdict_new"] == expect
    assert (report / "report.md").read_text().startswith("# Calibration plate/s1 r1")

    assert run_cli([*args, "--policy", "fixed", "--threshold", "0.9", "--reason", "second"]) == 0
    assert yaml.safe_load((out / "plate" / "s1.yaml").read_text())["revision"] == 2
    assert sorted(p.name for p in (out / "plate" / "history").iterdir()) == ["s1.r0001.yaml", "s1.r0002.yaml"]
    assert not (out / "plate" / "reports" / "s1.r0002" / "roc.png").exists()  # no defects, no ROC


@pytest.mark.parametrize(("extra", "needle"), [
    ([], "--reason is required"),
    (["--reason", "x", "--policy", "max-f1"], "--policy max-f1 needs labelled defective images"),
    (["--reason", "x", "--policy", "fixed"], "--policy fixed needs --threshold"),
])
def test_user_errors_are_one_line_exit_2(setup, run_cli, tmp_path: Path, extra: list[str],  # type: ignore[no-untyped-def]
                                         needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    model, data = setup
    assert run_cli([*base_args(model, data, tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and err.startswith("edge-inspector calibrate: error:")
    assert not (tmp_path / "plate").exists()


def test_roi_flag_is_checked() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="x,y,width,height"):
        calibrate._roi("1,2,3")


def test_ignore_mask_blanks_regions_and_is_stored_relative(setup, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np

    model, data = setup
    mask = tmp_path / "masks" / "all.png"
    mask.parent.mkdir()
    cv2.imwrite(str(mask), np.full((64, 64), 255, np.uint8))  # white everywhere: nothing is inspected
    out = tmp_path / "calibration"
    args = [*base_args(model, data, out), "--defects", str(data), "--ignore-mask", str(mask), "--reason", "mask"]
    assert run_cli(args) == 0
    profile = yaml.safe_load((out / "plate" / "s1.yaml").read_text())
    assert profile["ignore_mask"] == "../../masks/all.png"
    assert (out / "plate" / profile["ignore_mask"]).resolve() == mask.resolve()
    rows = list(csv.DictReader((out / "plate" / "reports" / "s1.r0001" / "per_image.csv").open()))
    assert {(r["map_max"], r["region"], r["verdict_new"]) for r in rows} == {("0.000000", "0", "PASS")}
