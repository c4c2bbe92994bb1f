"""`edge-inspector opcua-server` through the real entry point: a bad config is one line and exit 2 (systemd's
RestartPreventExitStatus=2), `--check` accepts a good one without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def verb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_inspector.cli", "opcua-server", *args], capture_output=True,
                          text=True, timeout=120)


def test_a_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "opcua.yaml"
    path.write_text(yaml.safe_dump({"station_id": "s", "opcua": {"allow_anonymous": True, "security_policies":
                                                                 ["None"], "port": 4840}}))
    result = verb("--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "opcua.port" in lines[0] and "unknown key" in lines[0], result.stderr


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    path = tmp_path / "opcua.yaml"
    path.write_text(yaml.safe_dump({"station_id": "s", "opcua": {"allow_anonymous": True,
                                                                 "security_policies": ["None"]}}))
    result = verb("--config", str(path), "--check")
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr
    assert verb("--config", str(tmp_path / "missing.yaml")).returncode == 2
