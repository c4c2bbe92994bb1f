"""Training presets and precision: a preset fills only the flags left out, the CPU's bf16 units decide auto
precision, and `train --preset cpu-30min` trains a real (tiny) model with the given flags winning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.training import presets


def test_preset_fills_only_what_was_left_out() -> None:
    flags = presets.resolve({"input_size": 96, "width": None, "max_minutes": None}, "cpu-30min")
    assert flags["input_size"] == 96  # given: wins over the preset's 192
    assert flags["width"] == 128 and flags["max_minutes"] == 30.0 and flags["kind"] == "scratch"
    assert flags["patience"] == 100000 and flags["precision"] == "auto"


def test_without_a_preset_the_old_defaults_hold() -> None:
    flags = presets.resolve({"input_size": None, "kind": None, "patience": None, "max_minutes": None}, None)
    assert (flags["input_size"], flags["kind"], flags["patience"], flags["max_minutes"]) == (256, "auto", 10, None)
    assert flags["encoder_layers"] == 3 and flags["width"] == 128


def test_unknown_preset_names_the_flag_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"--preset: expected one of cpu-30min, got 'gpu-1h'"):
        presets.resolve({}, "gpu-1h")


@pytest.mark.parametrize(("flags", "fast"), [
    ("fpu vme avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx512f amx_bf16 amx_tile amx_int8", True),
    ("fpu sse4_2 avx2 fma", False),
])
def test_cpu_bf16_units_are_read_from_cpuinfo(tmp_path: Path, flags: str, fast: bool) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert presets.cpu_has_fast_bf16(info) is fast


def test_unreadable_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert presets.cpu_has_fast_bf16(tmp_path / "missing") is False


def test_training_dtype_on_cpu() -> None:
    assert presets.training_dtype("fp32", "cpu") is None
    assert presets.training_dtype("bf16", "cpu") == "bfloat16"
    expected = "bfloat16" if presets.cpu_has_fast_bf16() else None
    assert presets.training_dtype("auto", "cpu") == expected
    with pytest.raises(ValueError, match=r"--precision: expected one of auto, fp32, bf16, got 'fp8'"):
        presets.training_dtype("fp8", "cpu")


def test_train_cli_with_preset_trains_in_bf16_with_given_flags_winning(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs torch (pip install .[train])")
    rng = np.random.default_rng(0)
    good = tmp_path / "data"
    good.mkdir()
    for i in range(8):
        image = np.clip(rng.normal(128, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(good / f"{i}.png"), cv2.GaussianBlur(image, (5, 5), 0))
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING", "train", "--preset", "cpu-30min",
           "--data", str(good), "--out", str(out), "--input-size", "32", "--encoder-layers", "1", "--width", "16",
           "--epochs", "2", "--batch-size", "4", "--precision", "bf16"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input_size"] == [32, 32] and meta["arch"] == {"encoder_layers": 1, "width": 16}
    assert meta["kind"] == "scratch"  # from the preset: no --model given
    assert meta["train"]["precision"] == "bfloat16" and meta["train"]["epochs"] == 2
    assert meta["train"]["batch_size"] == 4
    assert "2 epochs" in done.stdout
