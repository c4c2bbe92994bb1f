"""Config loading: valid files resolve, bad files fail with one line naming the key (and line)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_inspector.config import ConfigError, load_config

VALID = """\
station_id: line1-cam1
source:
  kind: video
  path: videos/line.avi
model:
  path: models/bottle
inspection:
  threshold: 0.5
  morphology:
    open: 3
    close: 5
mqtt:
  host: broker.local
  port: 1884
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_config_resolves_paths_against_the_config_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.station_id == "line1-cam1"
    assert cfg.source.path == tmp_path / "videos/line.avi"
    assert cfg.model.path == tmp_path / "models/bottle"
    assert cfg.inspection.threshold == 0.5 and isinstance(cfg.inspection.threshold, float)
    assert cfg.inspection.pixel_threshold == "auto"
    assert cfg.mqtt.port == 1884
    assert cfg.output.audit_log == tmp_path / "edge-inspector-state" / "audit.jsonl"


def test_state_directory_from_systemd_is_the_output_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.output.evidence_dir == tmp_path / "state" / "evidence"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("mqtt:\n  port: abc\n", 'mqtt.port: expected integer, got "abc" (line 2)'),
        ("mqtt:\n  port: 70000\n", "mqtt.port: expected 1..65535, got 70000"),
        ("mqtt:\n  prot: 1883\n", "mqtt.prot: unknown key"),
        ("colour: red\n", "colour: unknown key"),
        ("inspection:\n  threshold: high\n", 'inspection.threshold: expected number or one of auto, got "high"'),
        ("inspection:\n  min_defect_area: 2.5\n", "inspection.min_defect_area: expected integer, got 2.5"),
        ("inspection:\n  morphology:\n    open: -1\n", "inspection.morphology.open: expected a kernel size >= 0"),
        ("inspection:\n  require_region: yes please\n", "inspection.require_region: expected true or false"),
        ("source:\n  kind: webcam\n", "source.kind: expected one of video, camera, url, folder"),
        ("source:\n  kind: camera\n", "source.device: required when source.kind is camera"),
        ("source:\n  path: a.avi\n  queue_size: 0\n", "source.queue_size: expected >= 1, got 0"),
        ("mqtt:\n  username: op\n", "mqtt.password: username and password must be given together"),
        ("station_id: a/b\n", "station_id: expected a non-empty name without / + #"),
        ("mqtt: 5\n", "mqtt: expected a mapping, got 5"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, patch: str, expected: str) -> None:
    base = {"source": "source:\n  kind: video\n  path: a.avi\n", "model": "model:\n  path: m\n"}
    section = patch.split(":", maxsplit=1)[0]
    base.pop(section, None)
    text = patch + "".join(base.values())
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert expected in message
    assert str(tmp_path / "config.yaml") in message
    assert "\n" not in message


def test_missing_model_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.path: required"):
        load_config(write(tmp_path, "source:\n  kind: video\n  path: a.avi\n"))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.yaml: line 3: invalid YAML"):
        load_config(write(tmp_path, "source:\n  kind: video\n\tpath: x\n"))


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_validate_config_cli_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, VALID)
    ok = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", str(good)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("port: 1884", "port: abc"))
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'mqtt.port: expected integer, got "abc"' in lines[0]
