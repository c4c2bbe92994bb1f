"""The reject bridge's own config file (`edge-inspector reject-bridge --config BRIDGE.yaml`), read strictly.

The file is read with the project's safe YAML loader (size cap, no anchors, no duplicate keys), built by the
package's one typed builder (config/typed_build.build_typed: unknown keys and wrong types refused), then held to
the ranges below and the bridge's own rules; every error is the station config's one line naming file, key,
value and line (config/loader.located). Documented in docs/deploy.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config.field_limits import Limit, check_limits, require
from ..config.key_problem import KeyProblem, describe
from ..config.loader import ConfigError
from ..config.typed_file import read_typed_file

MAX_CONFIG_BYTES = 64 * 1024  # a bridge config is a dozen lines
_STATION = re.compile(r"^[^/+#\x00-\x1f]{1,64}$")
PATH_CHARS = 4096
# inclusive (low, high) of every number, the most characters of a text (others: 256)
LIMITS: dict[str, Limit] = {
    "station": 64, "mqtt.topic_prefix": 128, "mqtt.client_id": 128, "mqtt.username": 128,
    "mqtt.password_file": PATH_CHARS, "mqtt.ca_file": PATH_CHARS, "mqtt.cert_file": PATH_CHARS,
    "mqtt.key_file": PATH_CHARS, "mqtt.port": (1, 65535), "mqtt.keepalive": (2, 600),
    "mqtt.max_message_bytes": (1024, 1024 * 1024),
    "schedule.delay_ms": (1.0, 600_000.0), "schedule.pulse_ms": (1.0, 10_000.0),
    "schedule.max_clock_skew_ms": (0.0, 60_000.0), "parts.dedup_entries": (1000, 10_000_000),
    "output.modbus.port": (1, 65535), "output.modbus.device_id": (0, 255), "output.modbus.address": (0, 65535),
    "output.modbus.on_value": (0, 65535), "output.modbus.off_value": (0, 65535),
    "output.modbus.timeout_s": (0.01, 10.0), "output.gpio.line": (0, 4095), "status.interval_s": (0.5, 3600.0),
    "schedule.encoder.host": 253, "schedule.encoder.port": (1, 65535), "schedule.encoder.device_id": (0, 255),
    "schedule.encoder.address": (0, 65534), "schedule.encoder.bits": (16, 32),
    "schedule.encoder.poll_ms": (0.5, 1000.0),
    "schedule.encoder.counts_to_ejector": (1, 2**31 - 1), "schedule.encoder.stale_ms": (1.0, 60_000.0),
    "schedule.encoder.history_s": (1.0, 3600.0), "schedule.encoder.catch_up_counts": (0, 2**31 - 1),
    "schedule.encoder.timeout_s": (0.01, 10.0),
}
MAX_HISTORY_SAMPLES = 2_000_000  # history_s / poll_ms: the position ring's length (about 100 bytes a sample)


@dataclass(frozen=True)
class BridgeMqtt:
    host: str = "localhost"
    port: int = 1883
    topic_prefix: str = "edge-inspector"
    client_id: str | None = None  # default: edge-inspector-reject-bridge-<station>
    username: str | None = None
    password_file: Path | None = None  # the password, read at start (never in this file)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = 10  # seconds; the broker publishes the bridge's will after 1.5x this
    max_message_bytes: int = 65536  # a verdict or trigger longer than this is dropped unread (counted)


@dataclass(frozen=True)
class Encoder:
    """schedule.mode encoder: the belt's encoder counter, read from a Modbus TCP remote-I/O module."""

    host: str = ""  # required
    port: int = 502
    device_id: int = 1  # the Modbus unit id
    table: Literal["input", "holding"] = "input"  # input registers (FC 4) or holding registers (FC 3)
    address: int = 0  # required: the counter's (first) register
    bits: int = 32  # 16: one register; 32: two registers
    word_order: Literal["big", "little"] = "big"  # 32 bit: big = high word first (at `address`)
    poll_ms: float = 2.0  # how often the counter is read
    counts_to_ejector: int = 0  # required: counts from the camera's field of view to the ejector
    stale_ms: float = 100.0  # no good read for this long: the encoder is in error and nothing fires
    history_s: float = 30.0  # how far back a part's capture time can be placed on the belt
    catch_up_counts: int = 0  # after an encoder outage: a part at most this far past its count still fires
    timeout_s: float = 0.05  # one read's Modbus timeout


@dataclass(frozen=True)
class Schedule:
    mode: Literal["delay", "encoder"] = "delay"  # delay: a time after capture; encoder: a count after capture
    delay_ms: float = 1000.0  # delay mode: camera-to-ejector travel time: fire at captured_ts + delay
    pulse_ms: float = 50.0  # how long the output stays on per reject
    max_clock_skew_ms: float = 2000.0  # a verdict captured further than this in the future is refused
    encoder: Encoder | None = None  # encoder mode only (required there)


@dataclass(frozen=True)
class ModbusOutput:
    host: str = "localhost"
    port: int = 502
    device_id: int = 1  # the Modbus unit id
    target: Literal["coil", "register"] = "coil"
    address: int = 0
    on_value: int = 1  # register only: value written for "on" (a coil is True/False)
    off_value: int = 0
    timeout_s: float = 0.25


@dataclass(frozen=True)
class GpioOutput:
    chip: str = "/dev/gpiochip0"
    line: int = 0
    active_low: bool = False


@dataclass(frozen=True)
class BridgeConfig:
    station: str
    mqtt: BridgeMqtt = field(default_factory=BridgeMqtt)
    schedule: Schedule = field(default_factory=Schedule)
    # verdicts: a seq gap is a missing part; triggers: also the PLC's trigger topic; captures: also the daemon's
    # capture notices (mqtt.announce_captures), so a part whose verdict is late or never comes is rejected
    announce: str = "captures"
    output_kind: str = "modbus"
    modbus: ModbusOutput | None = None
    gpio: GpioOutput | None = None
    status_interval_s: float = 10.0
    dedup_entries: int = 100_000  # (station, run_id, seq) keys remembered against duplicates


# BRIDGE.yaml as written: parts, output and status are sections there, flat fields of BridgeConfig
@dataclass(frozen=True)
class Parts:
    announce: Literal["captures", "verdicts", "triggers"] = "captures"
    dedup_entries: int = 100_000


@dataclass(frozen=True)
class Output:
    kind: Literal["modbus", "gpio"] | None = None  # required
    modbus: ModbusOutput | None = None
    gpio: GpioOutput | None = None


@dataclass(frozen=True)
class StatusSection:
    interval_s: float = 10.0


@dataclass(frozen=True)
class BridgeFile:
    station: str = ""  # required
    mqtt: BridgeMqtt = field(default_factory=BridgeMqtt)
    schedule: Schedule = field(default_factory=Schedule)
    parts: Parts = field(default_factory=Parts)
    output: Output = field(default_factory=Output)
    status: StatusSection = field(default_factory=StatusSection)


def load_bridge_config(path: Path | str) -> BridgeConfig:
    """Read and check BRIDGE.yaml; ConfigError (one line) for anything wrong, FileNotFoundError when absent."""
    f = read_typed_file(Path(path), BridgeFile, what="reject-bridge config", max_bytes=MAX_CONFIG_BYTES,
                        check=_check, error=ConfigError)
    out = f.output
    return BridgeConfig(station=f.station, mqtt=f.mqtt, schedule=f.schedule, announce=f.parts.announce,
                        output_kind=str(out.kind), modbus=out.modbus if out.kind == "modbus" else None,
                        gpio=out.gpio if out.kind == "gpio" else None, status_interval_s=f.status.interval_s,
                        dedup_entries=f.parts.dedup_entries)


def _check(f: BridgeFile, data: object) -> None:
    """The bridge's rules beyond types: what is required, the ranges (LIMITS), the combinations."""
    require(data, "station", "required: the daemon's station_id")
    _check_schedule(f.schedule, data)
    require(data, "output.kind", "required: modbus or gpio")
    kind, other = (f.output.kind, "gpio" if f.output.kind == "modbus" else "modbus")
    require(data, "output.modbus.host" if kind == "modbus" else "output.gpio.line",
            "required: the Modbus server's address" if kind == "modbus" else "required: the line offset on the chip")
    if getattr(f.output, other) is not None:  # one output per bridge
        raise KeyProblem(f"output.{other}", f"unknown key under output kind {kind} (one output per bridge)")
    check_limits(f, LIMITS, text_max=256)
    if not _STATION.match(f.station):
        raise KeyProblem("station", f"expected the daemon's station_id (1-64 characters, no / + #), "
                                    f"got {describe(f.station)}")
    m = f.mqtt
    if any(c in m.topic_prefix for c in "+#"):
        raise KeyProblem("mqtt.topic_prefix", f"expected a topic prefix without + or #, got {describe(m.topic_prefix)}")
    if m.password_file is not None and m.username is None:
        raise KeyProblem("mqtt.password_file", f"needs mqtt.username too, got {describe(str(m.password_file))}")
    if m.cert_file is not None and m.key_file is None:
        raise KeyProblem("mqtt.cert_file", f"needs mqtt.key_file too, got {describe(str(m.cert_file))}")
    if f.schedule.encoder is not None:
        _check_encoder(f.schedule.encoder)
    modbus = f.output.modbus
    if modbus is not None and modbus.on_value == modbus.off_value:
        raise KeyProblem("output.modbus.on_value", f"must differ from off_value, got {modbus.on_value}")


def _check_schedule(s: Schedule, data: object) -> None:
    """delay mode needs delay_ms; encoder mode needs the encoder's host, address and counts, and no delay_ms."""
    if s.mode == "delay":
        require(data, "schedule.delay_ms", "required: the camera-to-ejector travel time in ms")
        if s.encoder is not None:
            raise KeyProblem("schedule.encoder", 'only with schedule.mode: encoder, got mode "delay"')
        return
    require(data, "schedule.encoder.host", "required in encoder mode: the Modbus module holding the counter")
    require(data, "schedule.encoder.address", "required in encoder mode: the counter's register")
    require(data, "schedule.encoder.counts_to_ejector", "required in encoder mode: counts from camera to ejector")
    if _has(data, "schedule", "delay_ms"):
        raise KeyProblem("schedule.delay_ms", f"not used in encoder mode (counts_to_ejector is), got {s.delay_ms:g}")


def _check_encoder(e: Encoder) -> None:
    if e.bits not in (16, 32):
        raise KeyProblem("schedule.encoder.bits", f"expected 16 or 32, got {e.bits}")
    if e.stale_ms < 2 * e.poll_ms:
        raise KeyProblem("schedule.encoder.stale_ms", f"must be at least 2 x poll_ms ({2 * e.poll_ms:g}), "
                                                      f"got {e.stale_ms:g}")
    if e.history_s * 1000.0 / e.poll_ms > MAX_HISTORY_SAMPLES:
        raise KeyProblem("schedule.encoder.history_s", f"history_s / poll_ms over {MAX_HISTORY_SAMPLES} samples, "
                                                       f"got {e.history_s:g}")
    if e.timeout_s * 1000.0 >= e.stale_ms:
        raise KeyProblem("schedule.encoder.timeout_s", f"must be shorter than stale_ms, got {e.timeout_s:g}")


def _has(data: object, section: str, key: str) -> bool:
    node = data.get(section) if isinstance(data, dict) else None
    return isinstance(node, dict) and node.get(key) is not None


__all__ = ["Encoder", "BridgeConfig", "BridgeMqtt", "ConfigError", "GpioOutput", "ModbusOutput", "Schedule",
           "load_bridge_config"]
