"""`edge-inspector calibrate` end to end on a tiny random-init model and a synthetic MVTec-layout data set, and its
ignore-mask rule shared with the daemon."""

from __future__ import annotations

import argparse
import csv
import importlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
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
    model, data = setup
    mask = tmp_path / "masks" / "most.png"
    mask.parent.mkdir()
    ignore = np.full((64, 64), 255, np.uint8)
    ignore[:4, :4] = 0  # 16 inspected pixels, fewer than --min-area 30: no region can form
    cv2.imwrite(str(mask), ignore)
    out = tmp_path / "calibration"
    args = [*base_args(model, data, out), "--defects", str(data), "--ignore-mask", str(mask), "--reason", "mask"]
    assert run_cli(args) == 0
    profile = yaml.safe_load((out / "plate" / "s1.yaml").read_text())
    assert profile["ignore_mask"] == "../../masks/most.png"
    assert (out / "plate" / profile["ignore_mask"]).resolve() == mask.resolve()
    rows = list(csv.DictReader((out / "plate" / "reports" / "s1.r0001" / "per_image.csv").open()))
    assert {(r["region"], r["verdict_new"]) for r in rows} == {("0", "PASS")}


def mask_args(model: Path, data: Path, out: Path, mask: Path) -> list[str]:
    return [*base_args(model, data, out), "--reason", "mask rule", "--ignore-mask", str(mask)]


def bad_masks() -> dict[str, np.ndarray]:
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[:, 40:, 2] = 255
    return {"white": np.full((64, 64), 255, np.uint8), "colour": colour, "other aspect": np.zeros((64, 20), np.uint8)}


def test_calibrate_and_the_daemon_refuse_the_same_mask_with_the_same_line(  # type: ignore[no-untyped-def]
        setup, run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One ignore-mask rule (model/part_mask.load_ignore) through both real entry points: `calibrate` in process
    and `edge-inspector run` as systemd starts it refuse the same bad mask with the same line. Before, calibrate
    accepted a white mask and the daemon a white or colour one."""
    model, data = setup
    out = tmp_path / "calibration"
    good_mask = np.zeros((64, 64), np.uint8)
    good_mask[:, 56:] = 255
    mask = tmp_path / "masks" / "line.png"
    mask.parent.mkdir()
    cv2.imwrite(str(mask), good_mask)
    assert run_cli(mask_args(model, data, out, mask)) == 0
    profile_path = out / "plate" / "s1.yaml"
    stored = yaml.safe_load(profile_path.read_text())["ignore_mask"]
    as_daemon_sees_it = profile_path.parent / stored  # the spelling the daemon names it by
    capsys.readouterr()

    config = tmp_path / "line.yaml"
    config.write_text(yaml.safe_dump({
        "station_id": "mask-rule",
        "source": {"kind": "folder", "path": str(data / "test" / "good")},
        "model": {"path": str(model), "backend": "torch", "device": "cpu", "threads": 1},
        "inspection": {"profile": str(profile_path)},
        "mqtt": {"enabled": False},
        "output": {"dir": str(tmp_path / "state")},
    }))
    for kind, image in bad_masks().items():
        if kind == "other aspect":  # the daemon resizes to any frame it gets; calibrate knows its images
            continue
        cv2.imwrite(str(mask), image)
        assert run_cli(mask_args(model, data, tmp_path / "again", as_daemon_sees_it)) == 2, kind
        calibrate_line = capsys.readouterr().err.strip()
        assert calibrate_line.count("\n") == 0 and calibrate_line.startswith("edge-inspector calibrate: error: ")
        message = calibrate_line.removeprefix("edge-inspector calibrate: error: ")
        assert message.startswith(f"ignore mask {as_daemon_sees_it}: "), message

        daemon = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert daemon.returncode == 2, (kind, daemon.stdout, daemon.stderr)
        assert message in daemon.stderr, (kind, daemon.stderr)
        assert not (tmp_path / "again" / "plate").exists()


def test_calibrate_refuses_a_mask_of_another_aspect_than_its_images(  # type: ignore[no-untyped-def]
        setup, run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, data = setup
    mask = tmp_path / "narrow.png"
    cv2.imwrite(str(mask), bad_masks()["other aspect"])
    assert run_cli(mask_args(model, data, tmp_path / "out", mask)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"edge-inspector calibrate: error: ignore mask {mask}: 20x64 pixels, the frames are 64x64: "
                   "draw it at frame size")
