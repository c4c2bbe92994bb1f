"""The reject bridge's own config file (`edge-inspector reject-bridge --config BRIDGE.yaml`), read strictly.

The file is read with the project's safe YAML loader (size cap, no anchors, no duplicate keys); unknown keys
are refused and every error is one line naming the key, its line and the value. Documented in docs/deploy.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config.loader import ConfigError
from ..config.yaml_safe import YamlFileError, read_yaml
from .config_fields import Section

MAX_CONFIG_BYTES = 64 * 1024  # a bridge config is a dozen lines
_STATION = re.compile(r"^[^/+#\x00-\x1f]{1,64}$")


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
class Schedule:
    mode: str = "delay"  # encoder: documented, refused (not implemented)
    delay_ms: float = 1000.0  # camera-to-ejector travel time: fire at captured_ts + delay
    pulse_ms: float = 50.0  # how long the output stays on per reject
    max_clock_skew_ms: float = 2000.0  # a verdict captured further than this in the future is refused


@dataclass(frozen=True)
class ModbusOutput:
    host: str = "localhost"
    port: int = 502
    device_id: int = 1  # the Modbus unit id
    target: str = "coil"  # coil or register
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
    announce: str = "verdicts"  # verdicts: a seq gap is a missing part; triggers: also the PLC's trigger topic
    output_kind: str = "modbus"
    modbus: ModbusOutput | None = None
    gpio: GpioOutput | None = None
    status_interval_s: float = 10.0
    dedup_entries: int = 100_000  # (station, run_id, seq) keys remembered against duplicates


def load_bridge_config(path: Path | str) -> BridgeConfig:
    """Read and check BRIDGE.yaml; ConfigError (one line) for anything wrong, FileNotFoundError when absent."""
    path = Path(path)
    try:
        doc = read_yaml(path, what="reject-bridge config", max_bytes=MAX_CONFIG_BYTES)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    root = Section(path, "", doc.data, doc.lines)
    station = root.string("station", None, required=True, max_len=64)
    if station is None or not _STATION.match(station):
        root.fail("station", station, "expected the daemon's station_id (1-64 characters, no / + #)")
    mqtt = _mqtt(root.section("mqtt"))
    schedule = _schedule(root.section("schedule"))
    parts = root.section("parts")
    announce = parts.string("announce", "verdicts", choices=("verdicts", "triggers"))
    dedup = parts.integer("dedup_entries", 100_000, 1000, 10_000_000)
    parts.done()
    out = root.section("output")
    kind = out.string("kind", None, choices=("modbus", "gpio"), required=True)
    modbus = _modbus(out.section("modbus")) if kind == "modbus" else None
    gpio = _gpio(out.section("gpio")) if kind == "gpio" else None
    out.done()  # a gpio: block under kind modbus (or the reverse) is refused as unknown: one output per bridge
    status = root.section("status")
    interval = status.number("interval_s", 10.0, 0.5, 3600.0)
    status.done()
    root.done()
    return BridgeConfig(station=str(station), mqtt=mqtt, schedule=schedule, announce=str(announce),
                        output_kind=str(kind), modbus=modbus, gpio=gpio, status_interval_s=interval,
                        dedup_entries=dedup)


def _mqtt(s: Section) -> BridgeMqtt:
    prefix = s.string("topic_prefix", "edge-inspector", max_len=128)
    if prefix is not None and any(c in prefix for c in "+#"):
        s.fail(s.key("topic_prefix"), prefix, "expected a topic prefix without + or #")
    user = s.string("username", None, max_len=128)
    m = BridgeMqtt(host=str(s.string("host", "localhost")), port=s.integer("port", 1883, 1, 65535),
                   topic_prefix=str(prefix), client_id=s.string("client_id", None, max_len=128), username=user,
                   password_file=s.path_value("password_file"), tls=s.boolean("tls", False),
                   ca_file=s.path_value("ca_file"), cert_file=s.path_value("cert_file"),
                   key_file=s.path_value("key_file"), keepalive=s.integer("keepalive", 10, 2, 600),
                   max_message_bytes=s.integer("max_message_bytes", 65536, 1024, 1024 * 1024))
    if m.password_file is not None and user is None:
        s.fail(s.key("password_file"), str(m.password_file), "needs mqtt.username too")
    if m.cert_file is not None and m.key_file is None:
        s.fail(s.key("cert_file"), str(m.cert_file), "needs mqtt.key_file too")
    s.done()
    return m


def _schedule(s: Section) -> Schedule:
    mode = s.string("mode", "delay", choices=("delay", "encoder"))
    if mode == "encoder":
        s.fail(s.key("mode"), mode, "not implemented yet (encoder counts need an encoder input); use delay")
    sched = Schedule(mode="delay", delay_ms=s.number("delay_ms", 1000.0, 1.0, 600_000.0),
                     pulse_ms=s.number("pulse_ms", 50.0, 1.0, 10_000.0),
                     max_clock_skew_ms=s.number("max_clock_skew_ms", 2000.0, 0.0, 60_000.0))
    if "delay_ms" not in s.data:
        s.fail(s.key("delay_ms"), None, "required: the camera-to-ejector travel time in ms")
    s.done()
    return sched


def _modbus(s: Section) -> ModbusOutput:
    m = ModbusOutput(host=str(s.string("host", None, required=True)), port=s.integer("port", 502, 1, 65535),
                     device_id=s.integer("device_id", 1, 0, 255),
                     target=str(s.string("target", "coil", choices=("coil", "register"))),
                     address=s.integer("address", 0, 0, 65535), on_value=s.integer("on_value", 1, 0, 65535),
                     off_value=s.integer("off_value", 0, 0, 65535), timeout_s=s.number("timeout_s", 0.25, 0.01, 10.0))
    if m.on_value == m.off_value:
        s.fail(s.key("on_value"), m.on_value, "must differ from off_value")
    s.done()
    return m


def _gpio(s: Section) -> GpioOutput:
    chip = s.string("chip", "/dev/gpiochip0", max_len=256)
    g = GpioOutput(chip=str(chip), line=s.integer("line", 0, 0, 4095), active_low=s.boolean("active_low", False))
    if "line" not in s.data:
        s.fail(s.key("line"), None, "required: the line offset on the chip")
    s.done()
    return g


__all__ = ["BridgeConfig", "BridgeMqtt", "ConfigError", "GpioOutput", "ModbusOutput", "Schedule",
           "load_bridge_config"]
