"""The bridge's outputs and firing thread: a missing library is refused naming what to install, an unreachable
module is an OutputError (counted, never a crash), pulses switch on then off, overlapping pulses merge, and the
output is left off at a stop. No timing assertions: only order and what was written."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

from edge_inspector.bridges.config import BridgeConfig, GpioOutput, ModbusOutput
from edge_inspector.bridges.firing import Firing
from edge_inspector.bridges.outputs import OutputError, create_output
from edge_inspector.bridges.planner import Planner
from edge_inspector.cli.main import main
from edge_inspector.errors import UserError


class Recorder:
    """An actuator that records what it was told (the firing thread's peer here, not a broker)."""

    def __init__(self, fail: bool = False) -> None:
        self.writes: list[bool] = []
        self.fail = fail
        self.changed = threading.Condition()

    def set(self, on: bool) -> None:
        with self.changed:
            self.writes.append(on)
            self.changed.notify_all()
        if self.fail:
            raise OutputError("module unreachable")

    def close(self) -> None: ...

    def describe(self) -> str:
        return "recorder"

    def wait_writes(self, n: int, timeout: float = 20.0) -> list[bool]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.writes) >= n, timeout)
            return list(self.writes)


@pytest.mark.skipif(importlib.util.find_spec("gpiod") is not None, reason="gpiod is installed here")
def test_gpio_without_gpiod_is_refused_naming_what_to_install() -> None:
    with pytest.raises(UserError, match=r"pip install gpiod") as err:
        create_output(BridgeConfig(station="s", output_kind="gpio", gpio=GpioOutput(line=3)))
    assert "\n" not in str(err.value)


def test_an_unreachable_modbus_module_is_an_output_error() -> None:
    pytest.importorskip("pymodbus", reason="pip install .[bridge]")
    out = create_output(BridgeConfig(station="s", modbus=ModbusOutput(host="127.0.0.1", port=1, timeout_s=0.2)))
    with pytest.raises(OutputError, match="127.0.0.1:1") as err:
        out.set(True)
    assert "\n" not in str(err.value)
    out.close()


def _fire_now(planner: Planner, firing: Firing, seqs: list[int], spacing: float) -> None:
    from edge_inspector.bridges.messages import Verdict

    now = time.time()
    for i, seq in enumerate(seqs):
        firing.schedule(planner.on_verdict(Verdict("s", "r", seq, now + i * spacing - 0.95, "FAIL", False, None),
                                           now=now))


def test_pulses_switch_on_then_off_and_overlapping_ones_merge() -> None:
    out = Recorder()
    planner = Planner(1.0)
    firing = Firing(planner, out, pulse_s=0.2).start()
    try:
        _fire_now(planner, firing, [0, 1], spacing=0.001)  # 1 ms apart, pulses of 200 ms: one edge
        assert out.wait_writes(2) == [True, False]
        _fire_now(planner, firing, [2], spacing=0.0)
        assert out.wait_writes(4) == [True, False, True, False]
    finally:
        firing.stop()
    assert planner.snapshot()["fired"] == 3 and firing.edges == 2


def test_a_failing_output_is_counted_and_the_output_is_switched_off_at_stop() -> None:
    out = Recorder(fail=True)
    planner = Planner(1.0)
    firing = Firing(planner, out, pulse_s=30.0).start()  # the stop comes long before the pulse would end
    _fire_now(planner, firing, [0], spacing=0.0)
    assert out.wait_writes(1) == [True]
    firing.stop()
    assert out.writes == [True, False]
    assert firing.output_errors == 2 and firing.last_error == "module unreachable"


def test_the_verb_refuses_a_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bridge.yaml"
    bad.write_text("station: line1\nschedule: {delay_ms: 100, pulse: 5}\noutput: {kind: modbus, modbus: {host: x}}\n")
    assert main(["reject-bridge", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "schedule.pulse" in err and "unknown key" in err
    assert main(["reject-bridge", "--config", str(tmp_path / "missing.yaml")]) == 2
    good = tmp_path / "ok.yaml"
    good.write_text("station: line1\nschedule: {delay_ms: 100}\noutput: {kind: modbus, modbus: {host: x}}\n")
    assert main(["reject-bridge", "--config", str(good), "--check"]) == 0
