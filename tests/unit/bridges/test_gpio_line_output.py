"""GpioLineOutput's refusals with the real libgpiod 2.x bindings (no stand-in for the kernel: on a machine without
GPIO chips every request fails for real), fuzzed; the chip path's size limit; and the hardware-test module's
options and its pulse loop's report (bridges/gpio_check)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.bridges import gpio_check
from edge_inspector.bridges.config import ConfigError, GpioOutput, load_bridge_config
from edge_inspector.bridges.outputs import GpioLineOutput, OutputError
from edge_inspector.errors import UserError

if not os.environ.get("CI"):  # CI installs the bridge extra: there an ImportError must fail
    pytest.importorskip("gpiod", reason="the GPIO output needs pip install .[bridge] (gpiod)")

BRIDGE = ("station: line1\nschedule: {{delay_ms: 850, pulse_ms: 60}}\n"
          "output: {{kind: gpio, gpio: {{chip: {chip}, line: 17}}}}\n")


@pytest.mark.parametrize(("chip", "why"), [
    ("{tmp}/gpiochip0", "no such chip (the board's chips: ls /dev/gpiochip*, or gpiodetect)"),
    ("gpiochip0", "no such chip"),
    ("/dev/null", "not a GPIO chip character device"),  # a character device of another driver
    ("{tmp}", "not a GPIO chip character device"),
    ("{tmp}/file", "not a GPIO chip character device"),
])
def test_a_chip_it_cannot_use_is_one_user_error_naming_chip_and_line(tmp_path: Path, chip: str, why: str) -> None:
    (tmp_path / "file").write_text("x")
    chip = chip.format(tmp=tmp_path)
    with pytest.raises(UserError) as err:
        GpioLineOutput(GpioOutput(chip=chip, line=17))
    text = str(err.value)
    assert text.startswith(f"output.gpio: line 17 of chip '{chip}': {why}"), text
    assert "\n" not in text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chip=st.text(st.characters(min_codepoint=32, max_codepoint=0x10FFFF, exclude_categories=("Cs", "Cc")),
                    min_size=1, max_size=256),
       line=st.integers(0, 4095))
def test_any_chip_text_is_refused_in_one_bounded_line(chip: str, line: int) -> None:
    if os.path.exists(chip) and "gpiochip" in os.path.realpath(chip):
        return  # a real chip of this machine: not this test's business
    with pytest.raises(UserError) as err:
        GpioLineOutput(GpioOutput(chip=chip, line=line))
    text = str(err.value)
    assert "\n" not in text and len(text) < 500 and f"line {line} of chip " in text, text


def test_an_oversized_chip_path_is_refused_by_the_config(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(BRIDGE.format(chip="/dev/" + "g" * 300))
    with pytest.raises(ConfigError, match=r"output\.gpio\.chip") as err:
        load_bridge_config(config)
    assert "\n" not in str(err.value) and len(str(err.value)) < 600
    config.write_text(BRIDGE.format(chip="/dev/gpiochip0"))
    assert load_bridge_config(config).gpio == GpioOutput(chip="/dev/gpiochip0", line=17)


@pytest.mark.parametrize(("args", "words"), [
    (["--count", "0"], "--count: expected 1-1000, got 0"),
    (["--count", "1001"], "--count: expected 1-1000, got 1001"),
    (["--interval-ms", "10"], "--interval-ms: expected 50-60000, got 10"),
    (["--yes"], "line 17 of chip '/dev/gpiochip-not-here': no such chip"),
    ([], "--yes is needed when not run from a terminal"),
])
def test_the_hardware_check_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                                words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(BRIDGE.format(chip="/dev/gpiochip-not-here"))
    with open(os.devnull) as null:
        monkeypatch.setattr("sys.stdin", null)  # not a terminal, as under CI or ssh -T
        assert gpio_check.main(["--config", str(config), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gpio_check: error: ") and words in err, err


def test_the_hardware_check_refuses_a_modbus_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text("station: line1\nschedule: {delay_ms: 850}\noutput: {kind: modbus, modbus: {host: x}}\n")
    assert gpio_check.main(["--config", str(config), "--yes"]) == 2
    assert "output.kind is modbus, not gpio" in capsys.readouterr().err


class Line:
    """A line that keeps what it was told; `stuck` reads back active forever, `broken` refuses writes."""

    def __init__(self, stuck: bool = False, broken: bool = False) -> None:
        self.level, self.stuck, self.broken = False, stuck, broken
        self.writes: list[bool] = []

    def set(self, on: bool) -> None:
        if self.broken:
            raise OutputError("GPIO /dev/gpiochip0 line 17: [Errno 19] No such device")
        self.writes.append(on)
        self.level = on or self.stuck

    def active(self) -> bool:
        return self.level


@pytest.mark.parametrize(("line", "good", "words"), [
    (Line(), 3, "read back active while on, inactive after"),
    (Line(stuck=True), 0, "ACTIVE after: NOT AS WRITTEN"),
    (Line(broken=True), 0, "FAILED: GPIO /dev/gpiochip0 line 17: [Errno 19] No such device"),
])
def test_the_pulse_loop_reports_each_pulse_and_counts_only_good_ones(line: Line, good: int, words: str) -> None:
    said: list[str] = []
    assert gpio_check.pulse(line, 3, 0.001, 0.001, say=said.append) == good  # type: ignore[arg-type]
    assert len(said) == 3 and all(s.startswith(f"pulse {i}/3: ") for i, s in enumerate(said, 1)), said
    assert all(words in s for s in said), said
    assert line.writes == ([] if line.broken else [True, False] * 3)


def test_the_gpio_example_in_docs_deploy_is_valid(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "deploy.md").read_text()
    block = re.search(r"```yaml reject-bridge-gpio\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no ```yaml reject-bridge-gpio block"
    config = tmp_path / "bridge.yaml"
    config.write_text("station: line1\nschedule: {delay_ms: 850, pulse_ms: 60}\n" + block.group(1))
    cfg = load_bridge_config(config)
    assert (cfg.output_kind, cfg.gpio) == ("gpio", GpioOutput(chip="/dev/gpiochip0", line=17, active_low=False))
