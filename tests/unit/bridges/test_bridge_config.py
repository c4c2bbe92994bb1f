"""The reject bridge's config: strict (unknown keys, wrong types and out-of-range values refused with the key,
line and value in one line), size-capped, and the documented example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


ENCODER = GOOD.replace("schedule: {delay_ms: 850, pulse_ms: 80}", """\
schedule:
  mode: encoder
  pulse_ms: 80
  encoder: {host: 192.168.10.21, port: 502, device_id: 2, table: holding, address: 100, bits: 16,
            word_order: little, poll_ms: 1, counts_to_ejector: 4250, stale_ms: 50, history_s: 20,
            catch_up_counts: 40, timeout_s: 0.02}""")


def test_encoder_mode_is_read_with_its_values(tmp_path: Path) -> None:
    e = load_bridge_config(_write(tmp_path, ENCODER)).schedule.encoder
    assert e is not None
    assert (e.host, e.port, e.device_id, e.table, e.address, e.bits, e.word_order) == (
        "192.168.10.21", 502, 2, "holding", 100, 16, "little")
    assert (e.poll_ms, e.counts_to_ejector, e.stale_ms, e.history_s, e.catch_up_counts, e.timeout_s) == (
        1.0, 4250, 50.0, 20.0, 40, 0.02)
    lean = load_bridge_config(_write(tmp_path, ENCODER.replace(
        "port: 502, device_id: 2, table: holding, ", "").replace(", bits: 16,\n            word_order: little, "
                                                                 "poll_ms: 1", ", poll_ms: 2")))
    assert lean.schedule.encoder is not None and (lean.schedule.encoder.table, lean.schedule.encoder.bits,
                                                  lean.schedule.encoder.word_order) == ("input", 32, "big")


@pytest.mark.parametrize(("old", "new", "key", "value"), [
    ("bits: 16", "bits: 24", "schedule.encoder.bits", "24"),
    ("word_order: little", "word_order: middle", "schedule.encoder.word_order", '"middle"'),
    ("table: holding", "table: coil", "schedule.encoder.table", '"coil"'),
    ("poll_ms: 1", "poll_ms: 0", "schedule.encoder.poll_ms", "0"),
    ("counts_to_ejector: 4250", "counts_to_ejector: 0", "schedule.encoder.counts_to_ejector", "0"),
    ("counts_to_ejector: 4250", "counts_to_ejector: 4250.5", "schedule.encoder.counts_to_ejector", "4250.5"),
    ("stale_ms: 50", "stale_ms: 1.5", "schedule.encoder.stale_ms", "1.5"),  # under 2 x poll_ms
    ("timeout_s: 0.02", "timeout_s: 0.05", "schedule.encoder.timeout_s", "0.05"),  # not under stale_ms
    ("history_s: 20", "history_s: 3000", "schedule.encoder.history_s", "3000"),  # 3 M samples at 1 ms
    ("address: 100", "address: 65535", "schedule.encoder.address", "65535"),
    ("pulse_ms: 80", "pulse_ms: 80\n  delay_ms: 850", "schedule.delay_ms", "850"),  # not used there
    ("address: 100,", "address: 100, speed: 3,", "schedule.encoder.speed", "3"),
    ("mode: encoder", "mode: delay\n  delay_ms: 850", "schedule.encoder", "delay"),  # encoder without its mode
])
def test_bad_encoder_values_are_refused_naming_key_and_value(tmp_path: Path, old: str, new: str, key: str,
                                                             value: str) -> None:
    assert old in ENCODER
    with pytest.raises(ConfigError) as err:
        load_bridge_config(_write(tmp_path, ENCODER.replace(old, new)))
    text = str(err.value)
    assert "\n" not in text and re.search(rf"{re.escape(key)}( \(line \d+\))?:", text), text
    assert value in text, text


@pytest.mark.parametrize("key", ["host", "address", "counts_to_ejector"])
def test_encoder_mode_requires_host_address_and_counts(tmp_path: Path, key: str) -> None:
    head, tail = ENCODER.split("  encoder:")
    text = head + "  encoder:" + re.sub(rf"\b{key}: [^,}}]+, ?", "", tail, count=1)
    assert f" {key}:" not in text.split("encoder:")[-1].split("parts:")[0]
    with pytest.raises(ConfigError, match=rf"schedule.encoder.{key}.*required"):
        load_bridge_config(_write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"schedule.encoder.host.*required"):
        load_bridge_config(_write(tmp_path, GOOD.replace("delay_ms: 850", "mode: encoder")))


def test_an_oversized_encoder_host_is_refused_with_a_capped_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_bridge_config(_write(tmp_path, ENCODER.replace("host: 192.168.10.21", "host: " + "h" * 20_000)))
    text = str(err.value)
    assert "schedule.encoder.host" in text and "\n" not in text and len(text) < 600, text


VALID_ENCODER = {"host": "m", "address": 3, "counts_to_ejector": 100}


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.dictionaries(
    st.sampled_from(["host", "port", "device_id", "table", "address", "bits", "word_order", "poll_ms",
                     "counts_to_ejector", "stale_ms", "history_s", "catch_up_counts", "timeout_s", "junk"]),
    st.one_of(st.integers(-2**40, 2**40), st.integers(0, 70_000), st.sampled_from([16, 32, "input", "holding",
              "big", "little"]), st.floats(allow_nan=True), st.text(max_size=40), st.booleans(), st.none(),
              st.lists(st.integers(), max_size=3)), max_size=4))
def test_fuzzed_encoder_sections_are_read_or_refused_in_one_line(from_valid: bool, fields: dict[str, object]) -> None:
    import tempfile

    import yaml

    encoder = {**VALID_ENCODER, **fields} if from_valid else fields
    doc = {"station": "s", "schedule": {"mode": "encoder", "encoder": encoder},
           "output": {"kind": "modbus", "modbus": {"host": "m"}}}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bridge.yaml"
        path.write_text(yaml.safe_dump(doc))
        try:
            cfg = load_bridge_config(path)
        except ConfigError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 800, str(exc)
            return
    e = cfg.schedule.encoder  # accepted: then every value is within its documented range
    assert e is not None and e.bits in (16, 32) and e.counts_to_ejector >= 1 and 2 * e.poll_ms <= e.stale_ms
    assert 0 <= e.address <= 65534 and e.table in ("input", "holding") and e.host


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


def test_the_encoder_example_in_docs_deploy_is_valid(tmp_path: Path) -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"```yaml reject-bridge-encoder\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no ```yaml reject-bridge-encoder block"
    e = load_bridge_config(_write(tmp_path, GOOD.replace("schedule: {delay_ms: 850, pulse_ms: 80}\n", block.group(1)))
                           ).schedule.encoder
    assert e is not None and (e.address, e.counts_to_ejector, e.bits) == (30, 2720, 32)


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
