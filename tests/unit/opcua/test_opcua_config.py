"""OPCUA.yaml is read strictly: unknown keys, wrong types and unsafe combinations are one-line errors naming the
key (and line) and the value; the file's size is capped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.opcua.config import MAX_CONFIG_BYTES, OpcuaConfigError, load_opcua_config

GOOD: dict[str, Any] = {
    "station_id": "line1",
    "mqtt": {"host": "broker.local", "port": 8883, "topic_prefix": "plant", "tls": True,
             "username": "opcua", "password_file": "/etc/ei/mqtt.pw"},
    "opcua": {"endpoint": "opc.tcp://0.0.0.0:4840/edge-inspector/", "certificate": "/etc/ei/cert.der",
              "private_key": "/etc/ei/key.pem", "security_policies": ["Basic256Sha256_SignAndEncrypt"],
              "users": [{"username": "plc", "password_file": "/etc/ei/plc.pw"}]},
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "opcua.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def with_change(section: str, key: str, value: Any) -> dict[str, Any]:
    return {**GOOD, section: {**GOOD[section], key: value}}


def test_a_good_config_reads_with_its_values_and_defaults(tmp_path: Path) -> None:
    cfg = load_opcua_config(write(tmp_path, GOOD))
    assert cfg.station_id == "line1" and cfg.mqtt.port == 8883 and cfg.mqtt.tls is True
    assert cfg.mqtt.client_id == "edge-inspector-opcua-line1", "a fixed client id: the broker keeps the session"
    assert cfg.mqtt.max_message_bytes == 65536
    assert [(u.username, str(u.password_file)) for u in cfg.opcua.users] == [("plc", "/etc/ei/plc.pw")]
    assert cfg.opcua.allow_anonymous is False


@pytest.mark.parametrize("data, words", [
    ({**GOOD, "extra": 1}, ["extra", "unknown key", "line"]),
    (with_change("mqtt", "hots", "x"), ["mqtt.hots", "unknown key"]),
    (with_change("mqtt", "port", 70000), ["mqtt.port", "70000"]),
    (with_change("mqtt", "port", "1883"), ["mqtt.port", '"1883"']),
    (with_change("mqtt", "max_message_bytes", 10), ["mqtt.max_message_bytes", "10"]),
    (with_change("mqtt", "tls", "yes"), ["mqtt.tls", '"yes"']),
    (with_change("mqtt", "password_file", None), ["mqtt.password_file", "username"]),
    (with_change("opcua", "endpoint", "http://x"), ["opcua.endpoint", "opc.tcp"]),
    (with_change("opcua", "security_policies", ["Basic128Rsa15"]), ["opcua.security_policies", "Basic128Rsa15"]),
    (with_change("opcua", "security_policies", []), ["opcua.security_policies"]),
    (with_change("opcua", "certificate", None), ["opcua.certificate", "private_key"]),
    (with_change("opcua", "users", []), ["opcua.users", "allow_anonymous"]),
    (with_change("opcua", "users", [{"username": "plc"}]), ["opcua.users[0]", "password_file"]),
    (with_change("opcua", "users", [{"username": "p lc", "password_file": "/x"}]), ["opcua.users[0].username"]),
    (with_change("opcua", "users", [{"username": "a", "password_file": "/x"},
                                        {"username": "a", "password_file": "/y"}]), ["twice"]),
    (with_change("opcua", "dedup_window", 0), ["opcua.dedup_window"]),
    (with_change("opcua", "history_max_results", 0), ["opcua.history_max_results", "0"]),
    (with_change("opcua", "history_max_results", 10**8), ["opcua.history_max_results", "100000000"]),
    (with_change("opcua", "history_max_age_days", 4000), ["opcua.history_max_age_days", "4000"]),
    (with_change("opcua", "history_max_mib", 0), ["opcua.history_max_mib", "0"]),
    (with_change("opcua", "history_max_mib", "1G"), ["opcua.history_max_mib", '"1G"']),
    (with_change("opcua", "state_dir", 5), ["opcua.state_dir", "5"]),
    (with_change("opcua", "state_dir", "x" * 2000), ["opcua.state_dir"]),
    ({**GOOD, "station_id": "line 1"}, ["station_id", "line 1"]),
    ({**GOOD, "opcua": {**GOOD["opcua"], "security_policies": ["None"]}}, ["opcua.users", "clear text"]),
    ({**GOOD, "mqtt": "localhost"}, ["mqtt", "mapping"]),
    ([1, 2], ["mapping"]),
])
def test_bad_configs_name_the_key_and_value(tmp_path: Path, data: Any, words: list[str]) -> None:
    with pytest.raises(OpcuaConfigError) as info:
        load_opcua_config(write(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message
    for word in words:
        assert word in message, message


def test_the_history_fields_have_bounded_defaults_and_read_their_values(tmp_path: Path) -> None:
    cfg = load_opcua_config(write(tmp_path, GOOD))
    assert cfg.opcua.state_dir is None, "default: systemd's $STATE_DIRECTORY (server.state_dir)"
    assert (cfg.opcua.history_max_results, cfg.opcua.history_max_age_days, cfg.opcua.history_max_mib) == (
        100_000, 30, 1024)
    changed = {**GOOD, "opcua": {**GOOD["opcua"], "state_dir": "/var/lib/ei/opcua", "history_max_results": 5,
                                 "history_max_age_days": 1, "history_max_mib": 1}}
    cfg = load_opcua_config(write(tmp_path, changed))
    assert (str(cfg.opcua.state_dir), cfg.opcua.history_max_results, cfg.opcua.history_max_age_days,
            cfg.opcua.history_max_mib) == ("/var/lib/ei/opcua", 5, 1, 1)


def test_anonymous_only_on_policy_none_is_allowed_when_asked_for(tmp_path: Path) -> None:
    data = {"station_id": "s", "opcua": {"security_policies": ["None"], "allow_anonymous": True}}
    cfg = load_opcua_config(write(tmp_path, data))
    assert cfg.opcua.allow_anonymous and cfg.opcua.users == []


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "opcua.yaml"
    path.write_bytes(b"station_id: s\n" + b"#" * MAX_CONFIG_BYTES)
    with pytest.raises(OpcuaConfigError, match="over the limit"):
        load_opcua_config(path)


def test_a_long_value_is_capped_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(OpcuaConfigError) as info:
        load_opcua_config(write(tmp_path, {**GOOD, "station_id": "x" * 100_000}))
    assert len(str(info.value)) < 500


def test_anchors_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OpcuaConfigError, match="anchor"):
        load_opcua_config(write(tmp_path, "station_id: &a s\nmqtt:\n  host: *a\n"))


values = st.none() | st.booleans() | st.integers(-10, 100_000) | st.text(max_size=30) | st.lists(
    st.text(max_size=10), max_size=3) | st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([("mqtt", k) for k in GOOD["mqtt"]] + [("mqtt", "keepalive"), ("opcua", "allow_anonymous"),
                                                            ("opcua", "trusted_clients"), ("opcua", "state_dir"),
                                                            ("opcua", "history_max_results"),
                                                            ("opcua", "history_max_age_days"),
                                                            ("opcua", "history_max_mib")]
                       + [("opcua", k) for k in GOOD["opcua"]]), values)
def test_fuzz_any_value_gives_a_config_or_a_one_line_error(tmp_path: Path, where: tuple[str, str], value: Any) -> None:
    try:
        load_opcua_config(write(tmp_path, with_change(*where, value)))
    except OpcuaConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 1000


def test_the_documented_example_config_reads() -> None:
    example = Path(__file__).resolve().parents[3] / "systemd" / "opcua-line1.example.yaml"
    cfg = load_opcua_config(example)
    assert cfg.station_id == "line1" and cfg.opcua.security_policies == ["Basic256Sha256_SignAndEncrypt"]
    assert [u.username for u in cfg.opcua.users] == ["plc"] and cfg.opcua.allow_anonymous is False


def test_errors_have_the_station_configs_one_line_form(tmp_path: Path) -> None:
    """The same `file: key: problem, got value (line N)` line as the station config (config/loader.py)."""
    path = write(tmp_path, "station_id: line1\nmqtt:\n  port: 0\n")
    with pytest.raises(OpcuaConfigError) as info:
        load_opcua_config(path)
    assert str(info.value) == f"{path}: mqtt.port: expected an integer from 1 to 65535, got 0 (line 3)"
    path = write(tmp_path, "station_id: line1\nopcua:\n  users:\n    - {username: plc, pasword_file: /x}\n")
    with pytest.raises(OpcuaConfigError) as info:
        load_opcua_config(path)
    assert str(info.value).startswith(f"{path}: opcua.users[0].pasword_file: unknown key"), str(info.value)
    assert str(info.value).endswith('got "/x" (line 4)'), str(info.value)


def test_a_section_left_empty_takes_its_defaults(tmp_path: Path) -> None:
    cfg = load_opcua_config(write(tmp_path, "station_id: s\nmqtt:\nopcua:\n  security_policies: [None]\n"
                                            "  allow_anonymous: true\n"))
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.source) == ("localhost", 1883, tmp_path / "opcua.yaml")
    with pytest.raises(OpcuaConfigError, match="source: unknown key"):
        load_opcua_config(write(tmp_path, "station_id: s\nsource: /etc/passwd\n"))
