"""The CLI: every verb has --help, and user errors are one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

VERBS = ["run", "validate-config", "train", "evaluate", "bench", "synth", "demo", "watch"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_inspector.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str) -> None:
    res = cli(verb, "--help")
    assert res.returncode == 0, res.stderr
    assert f"edge-inspector {verb}" in res.stdout
    assert "--" in res.stdout  # options are documented


def test_top_level_help_lists_every_verb() -> None:
    res = cli("--help")
    assert res.returncode == 0
    for verb in VERBS:
        assert verb in res.stdout


def test_run_with_missing_model_dir_is_one_line(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n  kind: video\n  path: {video}\nmodel:\n  path: {tmp_path / 'nomodel'}\n"
                      "mqtt:\n  enabled: false\n")
    res = cli("run", "--config", str(config))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "nomodel" in last and last.startswith("edge-inspector run: error:")


def test_synth_writes_a_dataset(tmp_path: Path) -> None:
    res = cli("synth", "--out", str(tmp_path), "--size", "64", "--train", "3", "--test-good", "2",
              "--test-defect", "1", "--video-frames", "4")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "brushed_metal" / "train" / "good").glob("*.png"))) == 3
    assert (tmp_path / "brushed_metal_line.avi").exists()
    assert (tmp_path / "brushed_metal_line.truth.json").exists()
