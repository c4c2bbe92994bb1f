"""The reject bridge's GPIO output on a kernel-simulated chip (gpio-sim): `edge-inspector reject-bridge` as a child
process with output.kind gpio, contract verdicts published on a real Mosquitto, and the line watched from the
outside through gpio-sim's sysfs value (the electrical level). FAIL and FAULT pulse the line once each, PASS does
not; active_low inverts the level; a line out of range or held by another program is refused in one line; the
hardware-test module (bridges/gpio_check) pulses the line N times.

gpio-sim needs a kernel with configfs and the gpio-sim module, and root: where /sys/kernel/config/gpio-sim is
absent (this machine and CI: a VM kernel without configfs) the whole module skips, and docs/deploy.md's hardware
test ("GPIO output: checking it on the real board") is the check.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from contract_schemas import validate_message
from helpers.gpio_sim import EdgeRecorder, SimChip, dumps, gpio_sim_missing, verdict, write_gpio_bridge_config
from helpers.reject_bridge_process import BridgeProcess
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.integration
_missing = gpio_sim_missing()
if _missing:
    pytest.skip(_missing, allow_module_level=True)
if not os.environ.get("CI"):  # CI installs the bridge extra: there an ImportError must fail
    pytest.importorskip("gpiod", reason="the GPIO output needs pip install .[bridge] (gpiod)")

LINE = 3


@pytest.fixture
def chip() -> Iterator[SimChip]:
    sim = SimChip(num_lines=8).start()
    yield sim
    sim.close()


def _publisher(broker: Any) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rb-gpio-pub-{time.monotonic_ns()}")
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def _status(mqtt_subscriber: Any, broker: Any, station: str, where: Any, timeout: float = 30.0) -> dict[str, Any]:
    sub = mqtt_subscriber(broker, f"ei-rel/{station}/reject-bridge-status")
    found = sub.wait_for(1, timeout, where=lambda t, p: isinstance(p, dict) and where(p))
    assert found, f"no matching status; last: {sub.messages[-2:]}"
    return found[-1][1]


def _publish(pub: mqtt.Client, station: str, payloads: list[dict[str, Any]]) -> None:
    topic = f"ei-rel/{station}/verdict"
    for p in payloads:
        validate_message(topic, p)  # the contract's verdict, as the daemon publishes it
        pub.publish(topic, dumps(p), qos=1).wait_for_publish(5)


def _refusal(config: Path) -> tuple[int, str]:
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "reject-bridge", "--config", str(config)],
                         capture_output=True, text=True, timeout=120)
    return res.returncode, res.stderr.strip()


def test_fail_and_fault_pulse_the_line_once_each_and_pass_never(
        tmp_path: Path, chip: SimChip, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbgpio"
    bridge = BridgeProcess(write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                                    station=station, chip=chip.path, line=LINE)).start()
    pub = _publisher(mosquitto_broker)
    try:
        _status(mqtt_subscriber, mosquitto_broker, station, lambda p: p["state"] == "online")
        assert chip.value(LINE) == 0  # requested as an output, driven inactive: low
        rec = EdgeRecorder(chip, LINE).start()
        t0 = time.time()  # parts 0.6 s apart, pulses of 200 ms: three separate edges at most
        _publish(pub, station, [verdict(station, 0, "FAIL", t0), verdict(station, 1, "PASS", t0 + 0.6),
                                verdict(station, 2, "FAULT", t0 + 1.2)])
        status = _status(mqtt_subscriber, mosquitto_broker, station,
                         lambda p: p["counts"]["verdicts"] == 3 and p["counts"]["pending"] == 0)
        time.sleep(0.5)  # the last pulse's switch-off
        rec.stop()
        assert chip.value(LINE) == 0
    finally:
        pub.loop_stop()
        code = bridge.terminate()
    assert code == 0, bridge.output()
    fired = bridge.fired()
    counts = status["counts"]
    # fired in time, or (a machine too slow to deliver the verdict before its firing time) counted late: never both
    assert len(fired) + counts["late"] == 2, (fired, counts)
    assert {f["what"].split(" ", 1)[0] for f in fired} <= {"FAIL", "FAULT"}
    rising, falling = rec.edges(1), rec.edges(0)
    assert len(rising) == len(fired) == len(falling), rec.changes  # one pulse per reject, each switched off
    for seen, planned in zip(rising, sorted(f["planned"] for f in fired)):
        assert seen >= planned - 0.005, (seen, planned)  # never before its firing time (one machine's clock)
    assert status["output"]["errors"] == 0 and status["output"]["edges"] == len(fired)
    assert chip.path in status["output"]["target"]


def test_active_low_inverts_the_level(tmp_path: Path, chip: SimChip, mosquitto_broker,
                                      mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    station = "rbgpiolow"
    chip.set_pull(LINE, "pull-up")  # the board's pull-up: an active-low actuator stays off while nobody drives it
    bridge = BridgeProcess(write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker,
                                                    station=station, chip=chip.path, line=LINE,
                                                    active_low=True)).start()
    pub = _publisher(mosquitto_broker)
    try:
        _status(mqtt_subscriber, mosquitto_broker, station, lambda p: p["state"] == "online")
        assert chip.value(LINE) == 1  # inactive is high
        rec = EdgeRecorder(chip, LINE).start()
        _publish(pub, station, [verdict(station, 0, "FAIL", time.time())])
        status = _status(mqtt_subscriber, mosquitto_broker, station,
                         lambda p: p["counts"]["verdicts"] == 1 and p["counts"]["pending"] == 0)
        time.sleep(0.5)
        rec.stop()
    finally:
        pub.loop_stop()
        code = bridge.terminate()
    assert code == 0, bridge.output()
    assert "(active low)" in status["output"]["target"]
    if status["counts"]["late"] == 0:
        assert [v for _, v in rec.changes] == [0, 1], rec.changes  # active is low, then back high
    assert chip.value(LINE) == 1  # released: the pull-up holds it off


def test_a_line_the_chip_does_not_have_is_refused_in_one_line(tmp_path: Path, chip: SimChip,
                                                              mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    # gpiod raises a bare ValueError for it: before the fix a traceback, not a user error
    config = write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, station="rbgpiooor",
                                      chip=chip.path, line=chip.num_lines)
    code, err = _refusal(config)
    assert code == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert f"line {chip.num_lines} of chip '{chip.path}'" in err and f"lines 0-{chip.num_lines - 1}" in err, err


def test_a_line_held_by_another_program_is_refused_naming_the_holder(
        tmp_path: Path, chip: SimChip, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    import gpiod
    from gpiod.line import Direction

    holder = gpiod.request_lines(chip.path, consumer="ei-test-holder",
                                 config={LINE: gpiod.LineSettings(direction=Direction.OUTPUT)})
    try:
        config = write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, station="rbgpiobusy",
                                          chip=chip.path, line=LINE)
        code, err = _refusal(config)
    finally:
        holder.release()
    assert code == 2 and err.count("\n") == 0, err
    assert f"line {LINE} of chip '{chip.path}': busy, held by 'ei-test-holder'" in err, err


def test_the_hardware_check_pulses_the_line_n_times(tmp_path: Path, chip: SimChip,
                                                    mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    config = write_gpio_bridge_config(tmp_path / "bridge.yaml", broker=mosquitto_broker, station="rbgpiocheck",
                                      chip=chip.path, line=LINE, pulse_ms=150.0)
    rec = EdgeRecorder(chip, LINE).start()
    res = subprocess.run([sys.executable, "-m", "edge_inspector.bridges.gpio_check", "--config", str(config),
                          "--count", "3", "--interval-ms", "300", "--yes"], capture_output=True, text=True,
                         timeout=120)
    time.sleep(0.2)
    rec.stop()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 of 3 pulses written and read back as written" in res.stdout, res.stdout
    assert len(rec.edges(1)) == 3 and len(rec.edges(0)) == 3, rec.changes
    assert chip.value(LINE) == 0
    report = [line for line in res.stdout.splitlines() if line.startswith("pulse ")]
    assert len(report) == 3 and all("read back active while on, inactive after" in r for r in report), report
