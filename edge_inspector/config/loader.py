"""Load one YAML file into typed config models; every error names the key path and line.

Unknown keys are refused and types are checked strictly (no silent coercion of "abc" to a port):
an inspection gate fails closed, it never falls back to defaults it was not told to use.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from ..errors import UserError
from .models import Config
from .redact import cap
from .secrets import SecretError, load_secrets
from .yaml_safe import VALUE_CHARS, YamlFileError, one_line, read_yaml

MAX_CONFIG_BYTES = 1024 * 1024  # a station config is a few KB


class ConfigError(UserError, ValueError):
    """A config file is invalid. The message is one line: file, key path, line, what was expected; at most
    yaml_safe.MAX_ERROR characters, whatever the file holds."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def load_config(path: Path | str) -> Config:
    """Read, validate and resolve a config file; raise ConfigError naming the offending key."""
    path = Path(path)
    try:
        doc = read_yaml(path, what="config file", max_bytes=MAX_CONFIG_BYTES)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    data, lines = ({} if doc.data is None else doc.data), doc.lines
    try:
        config = parse_config(data)
        check_consistency(config)
    except _KeyError as exc:
        line = lines.get(exc.key)
        where = f" (line {line})" if line else ""
        raise ConfigError(f"{path}: {exc.key}: {exc.problem}{where}") from None
    resolved = resolve_paths(config, path.parent.resolve())
    try:
        return load_secrets(resolved, path)
    except SecretError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None


def parse_config(data: object) -> Config:
    """Validate a plain mapping (already parsed YAML) into a Config."""
    if not isinstance(data, dict):
        raise _KeyError("<root>", f"expected a mapping, got {_describe(data)}")
    result = _build(Config, data, "")
    assert isinstance(result, Config)
    return result


class _KeyError(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= VALUE_CHARS and value.isprintable() else cap(value, VALUE_CHARS)
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return cap(value, VALUE_CHARS)


def _build(cls: type, data: dict[str, Any], prefix: str) -> object:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            raise _KeyError(path, f"unknown key (known keys here: {known})")
        kwargs[key] = _convert(hints[key], value, path)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:  # noqa: PLR0911 - one branch per type kind
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise _KeyError(path, f"expected a mapping, got {_describe(value)}")
        return _build(tp, value, path + ".")
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except _KeyError as exc:
                errors.append(exc.problem.removeprefix("expected ").split(", got")[0])
        raise _KeyError(path, f"expected {' or '.join(errors)}, got {_describe(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _KeyError(path, f"expected one of {', '.join(map(str, allowed))}, got {_describe(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _KeyError(path, f"expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _KeyError(path, f"expected integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _KeyError(path, f"expected number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _KeyError(path, f"expected string, got {_describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _KeyError(path, f"expected a list, got {_describe(value)}")
        (item,) = get_args(tp)
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise _KeyError(path, f"expected a path string, got {_describe(value)}")
        return Path(os.path.expanduser(value))
    raise _KeyError(path, f"unsupported type {tp}")


def check_consistency(cfg: Config) -> None:
    """Cross-field checks (the kind of source decides which field is required, and so on)."""
    src = cfg.source
    needed = {"video": "path", "folder": "path", "camera": "device", "url": "url"}.get(src.kind)
    if needed is not None and getattr(src, needed) is None:
        raise _KeyError(f"source.{needed}", f"required when source.kind is {src.kind}")
    _positive("source.queue_size", src.queue_size)
    if src.fps is not None and src.fps <= 0:
        raise _KeyError("source.fps", f"expected a positive number, got {src.fps}")
    if cfg.model.path is None:
        raise _KeyError("model.path", "required: the model directory written by `edge-inspector train`")
    insp = cfg.inspection
    for key in ("threshold", "pixel_threshold"):
        value = getattr(insp, key)
        if value != "auto" and not (isinstance(value, float) and math.isfinite(value)):
            raise _KeyError(f"inspection.{key}", f"expected a number or auto, got {value!r}")
    if insp.min_defect_area < 0:
        raise _KeyError("inspection.min_defect_area", f"expected >= 0, got {insp.min_defect_area}")
    for key in ("open", "close"):
        if getattr(insp.morphology, key) < 0:
            raise _KeyError(f"inspection.morphology.{key}", "expected a kernel size >= 0")
    _positive("inspection.max_boxes", insp.max_boxes)
    mq = cfg.mqtt
    if not 1 <= mq.port <= 65535:
        raise _KeyError("mqtt.port", f"expected 1..65535, got {mq.port}")
    if mq.qos not in (0, 1, 2):
        raise _KeyError("mqtt.qos", f"expected 0, 1 or 2, got {mq.qos}")
    if mq.password is not None and mq.password_file is not None:
        raise _KeyError("mqtt.password_file", "given together with mqtt.password: keep only the file")
    if mq.username is None and (mq.password is not None or mq.password_file is not None):
        raise _KeyError("mqtt.username", "required when a password is given")
    for key in ("ca_file", "cert_file", "key_file"):
        if getattr(mq, key) is not None and not mq.tls:
            raise _KeyError(f"mqtt.{key}", "given but mqtt.tls is false")
    if (mq.cert_file is None) != (mq.key_file is None):
        raise _KeyError("mqtt.key_file" if mq.key_file is None else "mqtt.cert_file",
                        "a client certificate needs both cert_file and key_file")
    _check_topic_level("mqtt.topic_prefix", mq.topic_prefix, allow_slash=True)
    if mq.commands and not mq.enabled:
        raise _KeyError("mqtt.commands", "true but mqtt.enabled is false (commands arrive over MQTT)")
    if not 1 <= mq.max_message_bytes <= 268_435_455:  # MQTT's own maximum
        raise _KeyError("mqtt.max_message_bytes", f"expected 1..268435455 (bytes), got {mq.max_message_bytes}")
    if not (math.isfinite(mq.command_max_age_s) and mq.command_max_age_s >= 0):
        raise _KeyError("mqtt.command_max_age_s", f"expected a number of seconds >= 0 (0 = off), got "
                                                  f"{mq.command_max_age_s}")
    _check_ranges(cfg)
    _check_dashboard(cfg)
    _check_topic_level("station_id", cfg.station_id, allow_slash=False)


def _check_ranges(cfg: Config) -> None:
    src, mq, out, sp = cfg.source, cfg.mqtt, cfg.output, cfg.spool
    if src.bit_depth not in (10, 12, 14, 16):
        raise _KeyError("source.bit_depth", f"expected 10, 12, 14 or 16, got {src.bit_depth}")
    for key, value in (("source.open_timeout_ms", src.open_timeout_ms), ("source.read_timeout_ms", src.read_timeout_ms),
                       ("mqtt.max_inflight", mq.max_inflight), ("spool.max_entries", sp.max_entries)):
        _positive(key, value)
    positive_numbers = (
        ("source.stall_seconds", src.stall_seconds), ("source.reconnect_seconds", src.reconnect_seconds),
        ("source.reconnect_max_seconds", src.reconnect_max_seconds),
        ("mqtt.keepalive", float(mq.keepalive)), ("mqtt.reconnect_max_delay", mq.reconnect_max_delay),
        ("mqtt.publish_timeout", mq.publish_timeout), ("mqtt.connect_timeout", mq.connect_timeout),
        ("spool.max_age_hours", sp.max_age_hours), ("output.audit_max_mb", out.audit_max_mb),
        ("output.evidence_max_age_days", out.evidence_max_age_days), ("output.evidence_max_mb", out.evidence_max_mb),
        ("output.shutdown_grace", out.shutdown_grace),
    )
    for key, number in positive_numbers:
        if not (math.isfinite(number) and number > 0):
            raise _KeyError(key, f"expected a positive number, got {number}")
    non_negative = (
        ("mqtt.stats_interval", mq.stats_interval), ("output.min_free_mb", out.min_free_mb),
        ("spool.keep_delivered", float(sp.keep_delivered)), ("output.audit_keep", float(out.audit_keep)),
    )
    for key, number in non_negative:
        if not (math.isfinite(number) and number >= 0):
            raise _KeyError(key, f"expected a number >= 0, got {number}")
    peak = cfg.inspection.min_region_peak
    if not (math.isfinite(peak) and peak >= 0):
        raise _KeyError("inspection.min_region_peak", f"expected a number >= 0, got {peak}")
    if cfg.inspection.max_scorer_failures < 0:
        raise _KeyError("inspection.max_scorer_failures",
                        f"expected an integer >= 0 (0 = never give up), got {cfg.inspection.max_scorer_failures}")
    if cfg.model.threads < 0:
        raise _KeyError("model.threads", f"expected an integer >= 0, got {cfg.model.threads}")
    _positive("model.max_batch", cfg.model.max_batch)
    deadline = cfg.inspection.deadline_ms
    if deadline is not None and not (math.isfinite(deadline) and deadline > 0):
        raise _KeyError("inspection.deadline_ms", f"expected a positive number or null, got {deadline}")


def _check_topic_level(key: str, value: str, allow_slash: bool) -> None:
    """MQTT topic names: no wildcards, no empty level, not a $SYS-like name, no NUL, not too long."""
    bad = "+#\x00" + ("" if allow_slash else "/")
    if not value or any(c in value for c in bad) or value.startswith("$") or len(value.encode()) > 1024 \
            or (allow_slash and "" in value.split("/")):
        what = "levels separated by /" if allow_slash else "one level"
        raise _KeyError(key, f"expected a topic name ({what}; no + or # wildcards, no empty level, not starting "
                             f"with $), got {_describe(value)}")


def _check_dashboard(cfg: Config) -> None:
    tiles = cfg.model.tiling
    try:
        tiles.spec()
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise _KeyError(f"model.{key}", problem) from None
    t = cfg.trigger
    if not (math.isfinite(t.window_ms) and t.window_ms > 0):
        raise _KeyError("trigger.window_ms", f"expected a positive number, got {t.window_ms}")
    if t.mode == "mqtt" and not cfg.mqtt.enabled:
        raise _KeyError("trigger.mode", "mqtt but mqtt.enabled is false (triggers arrive over MQTT)")
    m = cfg.metrics
    if not 1 <= m.port <= 65535:
        raise _KeyError("metrics.port", f"expected 1..65535, got {m.port}")
    if not (math.isfinite(m.broker_down_s) and m.broker_down_s > 0):
        raise _KeyError("metrics.broker_down_s", f"expected a positive number, got {m.broker_down_s}")
    if m.enabled and cfg.dashboard.enabled and (m.host, m.port) == (cfg.dashboard.host, cfg.dashboard.port):
        raise _KeyError("metrics.port", f"{m.port} is also dashboard.port")
    d = cfg.dashboard
    if not 1 <= d.port <= 65535:
        raise _KeyError("dashboard.port", f"expected 1..65535, got {d.port}")
    if not d.host:
        raise _KeyError("dashboard.host", "expected an address to bind, e.g. 127.0.0.1")
    if d.what_if_frames < 0:
        raise _KeyError("dashboard.what_if_frames", f"expected an integer >= 0, got {d.what_if_frames}")
    _positive("dashboard.threads", d.threads)
    for key, number in (("dashboard.what_if_max_mb", d.what_if_max_mb), ("dashboard.max_upload_mb", d.max_upload_mb),
                        ("dashboard.max_upload_megapixels", d.max_upload_megapixels),
                        ("dashboard.requests_per_s", d.requests_per_s)):
        if not (math.isfinite(number) and number > 0):
            raise _KeyError(key, f"expected a positive number, got {number}")
    if not (math.isfinite(d.request_burst) and d.request_burst >= 10):
        raise _KeyError("dashboard.request_burst",
                        f"expected a number >= 10 (an upload costs 10), got {d.request_burst}")
    _check_dashboard_doors(d)


def _check_dashboard_doors(d: Any) -> None:
    """allowed_hosts bounded; a dashboard reachable beyond loopback says how its traffic is protected."""
    if len(d.allowed_hosts) > 32:
        raise _KeyError("dashboard.allowed_hosts", f"expected at most 32 names, got {len(d.allowed_hosts)}")
    for i, name in enumerate(d.allowed_hosts):
        if not 1 <= len(name) <= 253 or any(c.isspace() or c in "/@?#," for c in name):
            raise _KeyError(f"dashboard.allowed_hosts[{i}]", f"expected a host name or address, got {name[:80]!r}")
    host = d.host.strip().strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if host in ("0.0.0.0", "::") and not d.allowed_hosts:
        raise _KeyError("dashboard.allowed_hosts", f"required when dashboard.host is {host}: the names and "
                                                   "addresses browsers use to reach this device")
    if not loopback and not (d.tls_proxy or d.allow_plain_http):
        raise _KeyError("dashboard.host", f"{host[:80]} is reachable beyond this device: put a TLS reverse proxy in "
                                          "front (dashboard.tls_proxy: true, docs/dashboard.md) or accept plain "
                                          "HTTP with dashboard.allow_plain_http: true")


def _positive(key: str, value: int) -> None:
    if value < 1:
        raise _KeyError(key, f"expected >= 1, got {value}")


def resolve_paths(cfg: Config, base: Path) -> Config:
    """Make relative paths absolute against the config file's folder and fill output defaults."""

    def fix(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p))

    cfg.source.path = fix(cfg.source.path)
    cfg.model.path = fix(cfg.model.path)
    cfg.model.backbone_weights = fix(cfg.model.backbone_weights)
    cfg.inspection.profile = fix(cfg.inspection.profile)
    cfg.mqtt.ca_file = fix(cfg.mqtt.ca_file)
    cfg.mqtt.cert_file = fix(cfg.mqtt.cert_file)
    cfg.mqtt.key_file = fix(cfg.mqtt.key_file)
    cfg.mqtt.password_file = fix(cfg.mqtt.password_file)
    cfg.dashboard.token_file = fix(cfg.dashboard.token_file)
    out = cfg.output
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    out.dir = fix(out.dir) or (Path(state) if state else base / "edge-inspector-state")
    out.audit_log = fix(out.audit_log) or out.dir / "audit.jsonl"
    out.evidence_dir = fix(out.evidence_dir) or out.dir / "evidence"
    out.annotated_video = fix(out.annotated_video)
    cfg.spool.path = fix(cfg.spool.path) or out.dir / "spool.sqlite"
    return cfg
