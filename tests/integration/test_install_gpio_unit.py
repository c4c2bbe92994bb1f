"""The reject bridge's installed unit can run a GPIO output: `install-service --reject-bridge` with output.kind gpio
into a temporary root (venv --offline, as test_install_service.py), then systemd's own tools on what it wrote.

What a GPIO bridge needs from its sandbox (libgpiod 2.x, lib/internal.c and chip.c): /dev/gpiochipN opened
read-write (the device cgroup: DevicePolicy=closed admits only DeviceAllow=char-gpiochip, the kernel's name for
the GPIO character devices in /proc/devices), /sys/dev/char/MAJ:MIN/subsystem readable (how libgpiod checks that
the file is a GPIO chip: ProtectKernelTunables leaves /sys readable), and lstat/stat, readlink (realpath), openat,
ioctl and close through the unit's SystemCallFilter; and the drop-in that docs/deploy.md has the plant engineer
add for the chip's group (SupplementaryGroups=) must keep the unit valid. This machine has no systemd running and
no GPIO chip: the unit is checked offline and the installed venv's entry point is run as its ExecStart."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_install_service import install, systemd_analyze, write_station_config

pytestmark = pytest.mark.integration

UNIT = "edge-inspector-reject-bridge@line1.service"
BRIDGE = """station: line1
mqtt:
  host: localhost
schedule:
  delay_ms: 850
  pulse_ms: 60
output:
  kind: gpio
  gpio:
    chip: /dev/gpiochip-not-on-this-machine
    line: 17
"""
# What libgpiod's open, request, set and release call: strace of the gpiod 2.5.0 wheel on x86_64 shows lstat and
# stat (the wheel's old-glibc build), readlink (realpath); newer builds use newfstatat/statx and readlinkat
GPIOD_SYSCALLS = ("openat", "ioctl", "close", "lstat", "stat", "newfstatat", "statx", "readlink", "readlinkat")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, trained_model: tuple[Path, str, int]) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("gpio-unit")
    root = work / "root"
    (work / "bridge.yaml").write_text(BRIDGE)
    install(root, write_station_config(work / "line1.yaml", trained_model[0]), "line1",
            "--reject-bridge", str(work / "bridge.yaml"))
    yield root


def _service(root: Path) -> dict[str, list[str]]:
    """The [Service] section's settings of the installed template: name -> every value it is given."""
    text = (root / "etc/systemd/system/edge-inspector-reject-bridge@.service").read_text()
    section = text.split("[Service]", 1)[1].split("\n[", 1)[0]
    found: dict[str, list[str]] = {}
    for line in section.splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_admits_the_gpio_character_devices_and_nothing_hides_them(installed: Path) -> None:
    service = _service(installed)
    assert service["DevicePolicy"] == ["closed"]
    assert "char-gpiochip rw" in service["DeviceAllow"], service["DeviceAllow"]
    assert service.get("PrivateDevices", ["no"]) in (["no"], ["false"]), "PrivateDevices hides /dev/gpiochip*"
    for key in ("InaccessiblePaths", "TemporaryFileSystem"):  # libgpiod reads /sys/dev/char/MAJ:MIN/subsystem
        assert not any(d in v for v in service.get(key, []) for d in ("/sys", "/dev")), service[key]


def test_libgpiods_syscalls_pass_the_units_filter(installed: Path) -> None:
    tool = systemd_analyze(installed)
    service = _service(installed)
    allowed_sets = [s for s in service["SystemCallFilter"] if not s.startswith("~")]
    denied_sets = [s[1:] for s in service["SystemCallFilter"] if s.startswith("~")]

    def expand(names: list[str]) -> set[str]:
        out = subprocess.run([tool, "syscall-filter", *names], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        calls = {w.strip() for w in out.stdout.splitlines()}
        nested = [c for c in calls if c.startswith("@") and c not in names]
        return {c for c in calls if c and not c.startswith(("@", "#"))} | (expand(nested) if nested else set())

    allowed, denied = expand(allowed_sets), expand(denied_sets)
    assert allowed, "systemd-analyze listed no system calls"
    missing = [c for c in GPIOD_SYSCALLS if c not in allowed or c in denied]
    assert not missing, f"{UNIT}: SystemCallFilter refuses {missing}: a GPIO bridge could not open its chip"


def test_the_unit_and_a_gpio_group_drop_in_verify(installed: Path) -> None:
    tool = systemd_analyze(installed)
    drop_in = installed / "etc/systemd/system" / f"{UNIT}.d" / "gpio.conf"
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text("[Service]\nSupplementaryGroups=gpio\n")  # docs/deploy.md, "GPIO output"
    try:
        res = subprocess.run([tool, "verify", f"--root={installed}", "--man=no", UNIT], capture_output=True,
                             text=True, timeout=60)
    finally:
        drop_in.unlink()
    assert res.returncode == 0 and res.stderr.strip() == "", res.stdout + res.stderr


def test_the_installed_venv_runs_the_gpio_output_and_refuses_a_missing_chip(installed: Path) -> None:
    # the unit's ExecStart, as systemd runs it (cwd /): gpiod imports in the installed venv, the chip is refused
    exe = installed / "opt/edge-inspector/.venv/bin/edge-inspector"
    config = installed / "etc/edge-inspector/line1.reject-bridge.yaml"
    res = subprocess.run([str(exe), "reject-bridge", "--config", str(config)], capture_output=True, text=True,
                         timeout=300, cwd="/")
    assert res.returncode == 2, res.stdout + res.stderr  # RestartPreventExitStatus=2: no restart loop
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "line 17 of chip '/dev/gpiochip-not-on-this-machine': no such chip" in err, err
