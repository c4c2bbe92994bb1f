"""The reject bridge with output.kind gpio through its real entry point (`edge-inspector reject-bridge`, a child
process, a real Mosquitto in its config) and the real libgpiod bindings, on a machine without GPIO chips (this
one and CI): a chip that is not there, or a path that is not a GPIO chip, stops it at start with one line naming
chip and line and exit code 2 (systemd's RestartPreventExitStatus), before it goes online; missing or 1.x
bindings name what to install. The line itself is exercised in test_reject_bridge_gpio_sim.py (gpio-sim)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.gpio_sim import write_gpio_bridge_config
from helpers.reject_bridge_process import BridgeProcess

pytestmark = pytest.mark.integration
if not os.environ.get("CI"):  # CI installs the bridge extra: there an ImportError must fail
    pytest.importorskip("gpiod", reason="the GPIO output needs pip install .[bridge] (gpiod)")


def _refused(bridge: BridgeProcess) -> str:
    assert bridge.proc is not None
    code = bridge.proc.wait(timeout=120)
    out = bridge.output().strip()
    assert code == 2, out
    assert out.count("\n") == 0 and "Traceback" not in out and len(out) < 600, out
    assert out.startswith("edge-inspector reject-bridge: error: output.gpio: "), out
    return out


@pytest.mark.parametrize(("chip", "why"), [
    ("{tmp}/gpiochip7", "no such chip"),
    ("gpiochip7", "no such chip (the board's chips: ls /dev/gpiochip*, or gpiodetect); chip is a path"),
    ("/dev/null", "not a GPIO chip character device"),
    ("{tmp}", "not a GPIO chip character device"),
    ("{tmp}/bridge.yaml", "not a GPIO chip character device"),
])
def test_a_chip_that_is_not_there_stops_the_bridge_at_start_in_one_line(
        tmp_path: Path, chip: str, why: str, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbgpiomissing"
    chip = chip.format(tmp=tmp_path)
    bridge = BridgeProcess(write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                                    station=station, chip=chip, line=5)).start()
    try:
        out = _refused(bridge)
    finally:
        bridge.kill()
    assert f"line 5 of chip '{chip}': {why}" in out, out
    # refused before connecting: it never announced itself online (no retained status on the broker)
    status = mqtt_subscriber(mosquitto_broker, f"ei-rel/{station}/reject-bridge-status")
    assert not status.wait_for(1, 1.0), status.messages


def _run_with(prelude: str, config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = (f"{prelude}\nfrom edge_inspector.cli import main\n"
            f"sys.exit(main(['reject-bridge', '--config', {str(config)!r}]))")
    return subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_without_the_bindings_it_names_what_to_install(tmp_path: Path, mosquitto_broker: Any) -> None:
    config = write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, station="rbgpionone",
                                      chip="/dev/gpiochip0", line=5)
    res = _run_with("sys.modules['gpiod'] = None  # as if not installed: import gpiod raises ImportError", config)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "needs libgpiod's Python bindings 2.x: pip install gpiod" in err, err


def _gpiod_1x() -> tuple[str, dict[str, str]]:
    """Debian 12's python3-libgpiod (libgpiod 1.6, the 1.x API, also a module named gpiod): the installed package,
    or an unpacked one at $EI_GPIOD1_ROOT (`apt-get download python3-libgpiod libgpiod2; dpkg -x ...`)."""
    root = os.environ.get("EI_GPIOD1_ROOT", "/")
    found = glob.glob(os.path.join(root, "usr/lib/python3/dist-packages/gpiod.cpython-*.so"))
    if not found:
        pytest.skip("no libgpiod 1.x bindings here (apt-get install python3-libgpiod, or set EI_GPIOD1_ROOT)")
    return found[0], {"LD_LIBRARY_PATH": os.path.join(root, f"usr/lib/{os.uname().machine}-linux-gnu")}


def test_the_1x_bindings_are_refused_naming_the_version_found(tmp_path: Path, mosquitto_broker: Any) -> None:
    so, env = _gpiod_1x()
    config = write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, station="rbgpioold",
                                      chip="/dev/gpiochip0", line=5)
    res = _run_with("import importlib.util\n"
                    f"spec = importlib.util.spec_from_file_location('gpiod', {so!r})\n"
                    "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
                    "sys.modules['gpiod'] = mod\n"
                    "assert not hasattr(mod, 'request_lines')  # really the 1.x API", config, env)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert "needs libgpiod's Python bindings 2.x, found gpiod '1." in err and "pip install 'gpiod>=2.1'" in err, err
