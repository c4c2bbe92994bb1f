"""The reject bridge's config: strict (unknown keys, wrong types and out-of-range values refused with the key,
line and value in one line), size-capped, and the documented example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_inspector.bridges.config import MAX_CONFIG_BYTES, load_bridge_config
from edge_inspector.config.loader import ConfigError

REPO = Path(__file__).resolve().parents[3]
GOOD = """\
station: line1
mqtt: {host: broker.local, port: 1883, topic_prefix: plant/edge}
schedule: {delay_ms: 850, pulse_ms: 80}
parts: {announce: triggers}
output:
  kind: modbus
  modbus: {host: 192.168.10.20, port: 502, device_id: 1, target: coil, address: 3}
status: {interval_s: 5}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    return path


def test_a_good_config_is_read_with_its_values(tmp_path: Path) -> None:
    cfg = load_bridge_config(_write(tmp_path, GOOD))
    assert (cfg.station, cfg.mqtt.host, cfg.mqtt.topic_prefix, cfg.announce) == ("line1", "broker.local",
                                                                                "plant/edge", "triggers")
    assert (cfg.schedule.delay_ms, cfg.schedule.pulse_ms, cfg.status_interval_s) == (850.0, 80.0, 5.0)
    assert cfg.modbus is not None and (cfg.modbus.host, cfg.modbus.address, cfg.modbus.target) == (
        "192.168.10.20", 3, "coil")
    assert cfg.gpio is None


@pytest.mark.parametrize(("old", "new", "key", "value"), [
    ("pulse_ms: 80}", "pulse_ms: 80, pulse: 3}", "schedule.pulse", "3"),  # unknown key (a typo)
    ("delay_ms: 850", "delay_ms: -5", "schedule.delay_ms", "-5"),
    ("delay_ms: 850", "delay_ms: fast", "schedule.delay_ms", '"fast"'),
    ("port: 502", "port: 70000", "output.modbus.port", "70000"),
    ("target: coil", "target: relay", "output.modbus.target", '"relay"'),
    ("announce: triggers", "announce: camera", "parts.announce", '"camera"'),
    ("kind: modbus", "kind: serial", "output.kind", '"serial"'),
    ("station: line1", "station: line/1", "station", '"line/1"'),
    ("interval_s: 5", "interval_s: .nan", "status.interval_s", "nan"),
    ("topic_prefix: plant/edge", "topic_prefix: plant/#", "mqtt.topic_prefix", '"plant/#"'),
    ("status: {interval_s: 5}", "status: {interval_s: 5}\nextra: 1", "extra", "1"),
])
def test_bad_values_are_refused_naming_key_and_value(tmp_path: Path, old: str, new: str, key: str,
                                                     value: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        load_bridge_config(_write(tmp_path, GOOD.replace(old, new)))
    text = str(err.value)
    assert "\n" not in text and str(tmp_path / "bridge.yaml") in text
    assert re.search(rf"{re.escape(key)}( \(line \d+\))?:", text), text
    assert value in text, text


def test_encoder_mode_is_documented_but_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule.mode.*not implemented"):
        load_bridge_config(_write(tmp_path, GOOD.replace("delay_ms: 850", "mode: encoder, delay_ms: 850")))


def test_delay_is_required_and_one_output_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule.delay_ms.*required"):
        load_bridge_config(_write(tmp_path, GOOD.replace("delay_ms: 850, ", "")))
    both = GOOD + "  gpio: {line: 4}\n"
    with pytest.raises(ConfigError, match=r"output.gpio.*unknown key"):
        load_bridge_config(_write(tmp_path, both.replace("status: {interval_s: 5}\n", "") + "status: {}\n"))


def test_yaml_anchors_and_oversized_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="anchor"):
        load_bridge_config(_write(tmp_path, GOOD.replace("schedule: {", "schedule: &s {")))
    big = GOOD + "#" * MAX_CONFIG_BYTES + "\n"
    with pytest.raises(ConfigError, match="over the limit"):
        load_bridge_config(_write(tmp_path, big))


def test_the_example_in_docs_deploy_is_valid(tmp_path: Path) -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"```yaml reject-bridge\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no ```yaml reject-bridge block"
    cfg = load_bridge_config(_write(tmp_path, block.group(1)))
    assert cfg.output_kind == "modbus"


def test_errors_have_the_station_configs_one_line_form(tmp_path: Path) -> None:
    """One framework for every config file: the same `file: key: problem, got value (line N)` line as the
    station config gives (config/loader.py), here for an unknown key and for an out-of-range value."""
    from edge_inspector.config.loader import load_config

    station = tmp_path / "station.yaml"
    station.write_text("colour: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(station)
    assert re.fullmatch(rf"{re.escape(str(station))}: colour: unknown key \(known keys here: .*\), got 1 \(line 1\)",
                        str(err.value)), str(err.value)
    path = _write(tmp_path, GOOD + "colour: 1\n")
    with pytest.raises(ConfigError) as err:
        load_bridge_config(path)
    assert re.fullmatch(rf"{re.escape(str(path))}: colour: unknown key \(known keys here: .*\), got 1 \(line 9\)",
                        str(err.value)), str(err.value)
    with pytest.raises(ConfigError) as err:
        load_bridge_config(_write(tmp_path, GOOD.replace("port: 1883", "port: 0")))
    assert re.fullmatch(rf"{re.escape(str(path))}: mqtt\.port: expected .*1.*65535, got 0 \(line 2\)",
                        str(err.value)), str(err.value)


def test_a_key_inside_an_optional_block_is_named_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_bridge_config(_write(tmp_path, GOOD.replace("device_id: 1", 'device_id: "1"')))
    assert 'output.modbus.device_id: expected integer, got "1" (line 7)' in str(err.value), str(err.value)


def test_a_section_left_empty_takes_its_defaults(tmp_path: Path) -> None:
    cfg = load_bridge_config(_write(tmp_path, GOOD.replace("status: {interval_s: 5}", "status:")))
    assert cfg.status_interval_s == 10.0
    with pytest.raises(ConfigError, match=r"output.kind: required"):
        load_bridge_config(_write(tmp_path, "station: s\nschedule: {delay_ms: 5}\noutput:\n"))
