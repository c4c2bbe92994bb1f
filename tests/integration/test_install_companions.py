"""`install-service --reject-bridge FILE --opcua FILE`: the station's companion services installed beside it into a
temporary root from this checkout (venv --offline, as test_install_service.py), checked by systemd's own tools,
and removed by `uninstall-service`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_install_service import cli, install, systemd_analyze, write_station_config

BRIDGE = """station: line1
mqtt:
  host: localhost
  port: 1883
schedule:
  delay_ms: 850
  pulse_ms: 60
output:
  kind: modbus
  modbus:
    host: 192.168.10.20
    address: 0
"""
OPCUA = """station_id: line1
mqtt:
  host: localhost
opcua:
  endpoint: opc.tcp://0.0.0.0:4840/edge-inspector/
  security_policies: ["None"]
  allow_anonymous: true
"""
UNITS = ("edge-inspector-reject-bridge@line1.service", "edge-inspector-opcua@line1.service")


def companions(tmp: Path, bridge: str = BRIDGE, opcua: str = OPCUA) -> list[str]:
    (tmp / "bridge.yaml").write_text(bridge)
    (tmp / "opcua.yaml").write_text(opcua)
    return ["--reject-bridge", str(tmp / "bridge.yaml"), "--opcua", str(tmp / "opcua.yaml")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, trained_model: tuple[Path, str, int]
              ) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    work = tmp_path_factory.mktemp("companions")
    root = work / "root"
    config = write_station_config(work / "line1.yaml", trained_model[0])
    yield root, install(root, config, "line1", *companions(work))


def test_the_companions_are_installed_beside_the_station(
        installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, res = installed
    for name, text in (("line1.reject-bridge.yaml", BRIDGE), ("line1.opcua.yaml", OPCUA)):
        path = root / "etc/edge-inspector" / name
        assert path.read_text() == text and path.stat().st_mode & 0o777 == 0o640
    for unit in ("edge-inspector-reject-bridge@.service", "edge-inspector-opcua@.service"):
        text = (root / "etc/systemd/system" / unit).read_text()
        assert text.startswith("# Installed by `edge-inspector install-service`")
    for unit in UNITS:
        assert f"systemctl enable --now {unit}" in res.stdout


def test_the_companion_units_verify(installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = installed
    tool = systemd_analyze(root)
    res = subprocess.run([tool, "verify", f"--root={root}", "--man=no", *UNITS], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr.strip() == "", res.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_companion_units_are_hardened(installed: tuple[Path, subprocess.CompletedProcess[str]],
                                          unit: str) -> None:
    root, _ = installed
    tool = systemd_analyze(root)
    res = subprocess.run([tool, "security", f"--root={root}", "--offline=true", unit], capture_output=True,
                         text=True, timeout=60)
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+) (\w+)", res.stdout)
    assert match, res.stdout + res.stderr
    assert float(match.group(1)) <= 1.8, res.stdout  # the station unit's bound


def test_the_installed_venv_runs_the_companions_exec_start(
        installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = installed
    exe = root / "opt/edge-inspector/.venv/bin/edge-inspector"
    for verb, name, ok in (("reject-bridge", "line1.reject-bridge.yaml", "output modbus"),
                           ("opcua-server", "line1.opcua.yaml", "station line1")):
        res = subprocess.run([str(exe), verb, "--check", "--config", str(root / "etc/edge-inspector" / name)],
                             capture_output=True, text=True, timeout=300, cwd="/")
        assert res.returncode == 0 and ok in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize(("bridge", "opcua", "words"), [
    (BRIDGE.replace("station: line1", "station: line2"), OPCUA,
     "--reject-bridge .*station 'line2' is not this station's station_id 'line1'"),
    (BRIDGE, OPCUA.replace("station_id: line1", "station_id: line9"), "--opcua .*station_id 'line9'"),
    (BRIDGE + "nonsense: 1\n", OPCUA, "--reject-bridge .*nonsense"),
    (BRIDGE, OPCUA.replace("allow_anonymous: true", "allow_anonymous: false"), "--opcua .*opcua.users"),
])
def test_a_refused_companion_installs_nothing(tmp_path: Path, trained_model: tuple[Path, str, int], bridge: str,
                                              opcua: str, words: str) -> None:
    config = write_station_config(tmp_path / "line1.yaml", trained_model[0])
    res = cli("install-service", "--station", "line1", "--config", str(config), "--root", str(tmp_path / "root"),
              "--python", "/usr/bin/python3", "--offline", *companions(tmp_path, bridge, opcua))
    assert res.returncode == 2, res.stdout + res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("edge-inspector install-service: error:") and re.search(words, last), last
    assert len(last) < 500
    assert not (tmp_path / "root").exists()


def test_uninstall_stops_the_companions_and_purge_removes_their_configs(
        tmp_path: Path, trained_model: tuple[Path, str, int]) -> None:
    root = tmp_path / "root"
    install(root, write_station_config(tmp_path / "line1.yaml", trained_model[0]), "line1", *companions(tmp_path))
    res = cli("uninstall-service", "--station", "line1", "--root", str(root))
    assert res.returncode == 0, res.stderr
    for unit in UNITS:
        assert f"systemctl disable --now {unit}" in res.stdout
    assert not (root / "etc/systemd/system/edge-inspector-reject-bridge@.service").exists()
    assert (root / "etc/edge-inspector/line1.reject-bridge.yaml").is_file()  # no --purge: configs stay
    res = cli("uninstall-service", "--station", "line1", "--root", str(root), "--purge")
    assert res.returncode == 0, res.stderr
    assert not (root / "etc/edge-inspector").exists()
