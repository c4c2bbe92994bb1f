"""Integers of hundreds of digits at every door: each is refused with the door's own one-line error.

JSON and YAML parsers return such a number as a Python int; `float()` or `math.isfinite()` of it raises
OverflowError, which no door's error type catches, so before the fix one such value in a config file, an MQTT
command, a trigger, a verdict read by a bridge or a model's metadata ended in a traceback (a config file), or in
an exception on the MQTT thread. Hypothesis' integers rarely reach 10**400, so the fuzz tests never drew one.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_inspector.config import ConfigError, load_config
from edge_inspector.config.models import Config
from edge_inspector.model.metadata import MetadataError, ModelMetadata
from edge_inspector.publish.capture_notice import capture_payload, read_capture
from edge_inspector.publish.message_fields import MessageError
from edge_inspector.publish.verdict_reader import read_verdict
from edge_inspector.service.commands import CommandError, parse_request
from edge_inspector.service.triggers import TriggerError, parse_trigger

HUGE = 10**400
REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "systemd" / "line1.example.yaml"


def numeric_keys(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key path of every int or float field of a config dataclass tree (sections in lists left out)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        options = [hints[f.name]]
        if typing.get_origin(options[0]) in (typing.Union, types.UnionType):
            options = [o for o in typing.get_args(options[0]) if o is not type(None)]
        for option in options:
            if dataclasses.is_dataclass(option):
                yield from numeric_keys(option, (*prefix, f.name))  # type: ignore[arg-type]
            elif option in (int, float):
                yield (*prefix, f.name)


STATION_KEYS = sorted(set(numeric_keys(Config)))


def test_the_walk_finds_the_station_configs_numbers() -> None:
    keys = {".".join(k) for k in STATION_KEYS}
    assert {"mqtt.port", "source.fps", "source.queue_size", "spool.keep_delivered", "mqtt.keepalive"} <= keys
    assert len(keys) > 50


def config_with(folder: Path, key: tuple[str, ...], value: object) -> Path:
    """The example station config with `key` (its sections made when absent) set to `value`, written to folder."""
    data = yaml.safe_load(EXAMPLE.read_text())
    node = data
    for part in key[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[key[-1]] = value
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("key", STATION_KEYS, ids=".".join)
def test_the_station_config_refuses_a_huge_integer_by_name(tmp_path: Path, key: tuple[str, ...], sign: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, key, sign * HUGE))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message[:500]
    assert key[-1] in message, message  # the key is named (its section too, unless a cross check names a peer)


FLOAT_KEYS = [k for k in STATION_KEYS if k not in {("source", "device")}]


@pytest.mark.parametrize("value", [1e308, -1e308, float("inf"), float("nan")], ids=["1e308", "-1e308", "inf", "nan"])
def test_no_number_of_the_station_config_may_be_absurd_or_not_finite(tmp_path: Path, value: float) -> None:
    # threading's waits and time.sleep raise OverflowError for 1e308 s: a stats_interval or reconnect_seconds of
    # 1e308 loaded fine, so the error would have come in the thread that waits on it, not from the loader
    accepted = []
    for key in FLOAT_KEYS:
        try:
            load_config(config_with(tmp_path, key, value))
        except ConfigError as exc:
            assert "\n" not in str(exc) and key[-1] in str(exc), str(exc)
        else:
            accepted.append(".".join(key))
    assert accepted == [], f"loaded with {value}: {accepted}"


def test_validate_config_names_the_key_in_one_line_and_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys
    text = EXAMPLE.read_text().replace("  stats_interval: 10 ", f"  stats_interval: {HUGE} ", 1)
    assert str(HUGE) in text
    path = tmp_path / "line1.yaml"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "mqtt.stats_interval" in lines[0] and "Traceback" not in run.stderr, run.stderr


COMMAND = {"id": "c1", "action": "set", "author": "bo", "reason": "test"}


@pytest.mark.parametrize("change", [{"pixel_threshold": HUGE}, {"image_threshold": -HUGE}, {"min_area": HUGE},
                                    {"roi": [0, 0, HUGE, 10]}])
def test_a_threshold_command_with_a_huge_integer_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(CommandError) as caught:
        parse_request({**COMMAND, "set": change})
    assert next(iter(change)) in str(caught.value)


def test_a_show_command_and_a_trigger_with_a_huge_ts_are_refused() -> None:
    with pytest.raises(CommandError, match="ts"):
        parse_request({"id": "c2", "action": "show", "ts": HUGE})
    with pytest.raises(TriggerError, match="ts: expected epoch seconds"):
        parse_trigger(json.dumps({"part_id": "P1", "ts": HUGE}).encode())


VERDICT: dict[str, Any] = {  # docs/mqtt-contract.md's example
    "schema": "edge-inspector/verdict", "version": 2, "station": "line1", "run_id": "20240501T115820Z-3fa9c1",
    "seq": 1042, "source_index": 1042, "frame": "frame_001042", "captured_at": "2024-05-01T12:00:00.123Z",
    "captured_ts": 1714564800.123, "decided_at": "2024-05-01T12:00:00.171Z", "latency_ms": 48.2,
    "verdict": "FAIL", "score": 0.8123, "threshold": 0.5,
    "boxes": [{"x": 112, "y": 64, "w": 31, "h": 22, "area": 340, "peak": 0.913}],
    "reason": "score 0.812 >= threshold 0.500; 1 region, largest 340 px", "model_id": "bottle-fae-20240430-1a2b3c",
    "replayed": False,
}


@pytest.mark.parametrize("key", ["score", "threshold", "latency_ms", "captured_ts", "seq", "source_index"])
def test_a_subscriber_refuses_a_verdict_with_a_huge_number(key: str) -> None:
    read_verdict(json.dumps(VERDICT).encode(), "line1", 65536)  # the example itself reads
    for sign in (1, -1):
        with pytest.raises(MessageError) as caught:
            read_verdict(json.dumps({**VERDICT, key: sign * HUGE}).encode(), "line1", 65536)
        assert caught.value.kind == "type" and key in str(caught.value)


def test_a_box_with_a_huge_peak_and_a_capture_notice_with_a_huge_time_are_refused() -> None:
    box = {**VERDICT["boxes"][0], "peak": HUGE}
    with pytest.raises(MessageError):
        read_verdict(json.dumps({**VERDICT, "boxes": [box]}).encode(), "line1", 65536)
    notice = json.loads(capture_payload("line1", "run-1", 5, 1714564800.5))
    read_capture(json.dumps(notice).encode(), "line1")
    with pytest.raises(MessageError, match="captured_ts"):
        read_capture(json.dumps({**notice, "captured_ts": HUGE}).encode(), "line1")


def test_model_metadata_with_a_huge_threshold_is_refused_by_name_in_a_short_line(tmp_path: Path) -> None:
    base = {"model_id": "m1", "kind": "scratch", "input_size": [64, 64], "arch": {}, "schema_version": 1}
    (tmp_path / "metadata.json").write_text(json.dumps({**base, "image_threshold": HUGE}))
    with pytest.raises(MetadataError, match="image_threshold: expected a finite number") as caught:
        ModelMetadata.load(tmp_path)
    assert len(str(caught.value)) < len(str(tmp_path)) + 120
