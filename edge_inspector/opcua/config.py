"""The OPC UA server's own config file (`edge-inspector opcua-server --config OPCUA.yaml`), read strictly.

A separate file from the station's: the server is a separate process, fed only by the station's MQTT contract,
and may run on another machine. Read with the package's safe YAML loader (size cap, no anchors, no duplicate
keys); an unknown key, a wrong type or a value out of range is a one-line OpcuaConfigError naming the key, its
line and the (capped) value. Secrets are not read here: users name a password file (server.py reads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config.yaml_safe import YamlFileError, label, read_yaml
from ..errors import UserError
from .config_checks import NAME, check_value

MAX_CONFIG_BYTES = 256 * 1024  # a few dozen lines; a bigger file is not a config
POLICIES = ("None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt")


class OpcuaConfigError(UserError, ValueError):
    """A bad OPC UA server config: one line naming the file, the key (and line) and the value."""


@dataclass
class FeedMqtt:
    """The broker the station publishes to (docs/mqtt-contract.md); the server only subscribes."""

    host: str = "localhost"
    port: int = 1883
    topic_prefix: str = "edge-inspector"
    client_id: str | None = None  # default edge-inspector-opcua-<station_id>; fixed, for a persistent session
    username: str | None = None
    password_file: Path | None = None  # required with a username (no plaintext passwords in this file)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = 30
    max_message_bytes: int = 65536  # a verdict or status message longer than this is dropped unread (counted)


@dataclass
class OpcuaUser:
    """One account a client may log in with; its password is the first line of `password_file`."""

    username: str = ""
    password_file: Path = Path()


@dataclass
class OpcuaEndpoint:
    """The OPC UA side: endpoint, security and accounts. Read-only: the server has no writable node."""

    endpoint: str = "opc.tcp://0.0.0.0:4840/edge-inspector/"
    server_name: str = "edge-inspector"
    application_uri: str = "urn:edge-inspector:opcua-server"
    namespace_uri: str = "urn:edge-inspector:machine-vision"  # our own namespace, modelled on OPC 40100-1
    security_policies: list[str] = field(default_factory=lambda: ["Basic256Sha256_SignAndEncrypt"])
    certificate: Path | None = None  # the server's certificate (DER or PEM); required by a Basic256Sha256 policy
    private_key: Path | None = None  # its private key (PEM), mode 0600
    trusted_clients: list[Path] = field(default_factory=list)  # client certificates accepted; [] = any
    allow_anonymous: bool = False  # anonymous sessions are refused unless this is true
    users: list[OpcuaUser] = field(default_factory=list)
    dedup_window: int = 100_000  # (station, run_id, seq) keys remembered to drop MQTT redeliveries


@dataclass
class OpcuaServerConfig:
    """OPCUA.yaml: which station to serve, its broker, and the OPC UA endpoint."""

    station_id: str = ""
    mqtt: FeedMqtt = field(default_factory=FeedMqtt)
    opcua: OpcuaEndpoint = field(default_factory=OpcuaEndpoint)
    source: Path | None = None  # the file it was read from, for messages


SECTIONS: dict[str, type] = {"mqtt": FeedMqtt, "opcua": OpcuaEndpoint}


def load_opcua_config(path: Path | str) -> OpcuaServerConfig:
    """Read and check OPCUA.yaml; OpcuaConfigError (one line) for every problem, FileNotFoundError if absent."""
    path = Path(path)
    try:
        doc = read_yaml(path, what="OPC UA server config", max_bytes=MAX_CONFIG_BYTES)
    except YamlFileError as exc:
        raise OpcuaConfigError(str(exc)) from None
    data = {} if doc.data is None else doc.data
    where = _Where(path, doc.lines)
    if not isinstance(data, dict):
        raise OpcuaConfigError(f"{path}: expected a mapping of keys at the top, got {type(data).__name__}")
    cfg = OpcuaServerConfig(source=path)
    for key, value in data.items():
        if key == "station_id":
            cfg.station_id = check_value(where, "station_id", value, str)
        elif key in SECTIONS:
            setattr(cfg, key, _section(where, key, value, SECTIONS[key]))
        else:
            raise where.error(str(key), f"unknown key (expected one of station_id, {', '.join(SECTIONS)})")
    if not NAME.match(cfg.station_id):
        raise where.error("station_id", f"{label(cfg.station_id)!r} must be 1-64 characters of A-Za-z0-9._-")
    _cross_checks(cfg, where)
    return cfg


class _Where:
    def __init__(self, path: Path, lines: dict[str, int]) -> None:
        self.path, self.lines = path, lines

    def error(self, key: str, problem: str) -> OpcuaConfigError:
        line = self.lines.get(key)
        return OpcuaConfigError(f"{self.path}:{f' line {line}:' if line else ''} {key}: {problem}")


def _section(where: _Where, name: str, value: Any, kind: type) -> Any:
    if value is None:
        return kind()
    if not isinstance(value, dict):
        raise where.error(name, f"expected a mapping, got {type(value).__name__}")
    known = {f.name: f for f in fields(kind)}
    out = kind()
    for key, item in value.items():
        dotted = f"{name}.{label(key)}"
        if key not in known:
            raise where.error(dotted, f"unknown key (expected one of {', '.join(known)})")
        if key == "users":
            setattr(out, key, [_user(where, f"{dotted}[{i}]", u) for i, u in enumerate(_list(where, dotted, item))])
        else:
            setattr(out, key, check_value(where, dotted, item, known[key].type))
    return out


def _list(where: _Where, key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(key, f"expected a list, got {type(value).__name__}")
    return value


def _user(where: _Where, key: str, value: Any) -> OpcuaUser:
    if not isinstance(value, dict) or set(value) != {"username", "password_file"}:
        raise where.error(key, "expected a mapping with exactly username and password_file")
    user = OpcuaUser(check_value(where, f"{key}.username", value["username"], str),
                     check_value(where, f"{key}.password_file", value["password_file"], Path))
    if not NAME.match(user.username):
        raise where.error(f"{key}.username", f"{label(user.username)!r} must be 1-64 characters of A-Za-z0-9._-")
    return user


def _cross_checks(cfg: OpcuaServerConfig, where: _Where) -> None:
    ua, mq = cfg.opcua, cfg.mqtt
    if not ua.endpoint.startswith("opc.tcp://"):
        raise where.error("opcua.endpoint", f"{label(ua.endpoint)!r} must start with opc.tcp://")
    if not ua.security_policies:
        raise where.error("opcua.security_policies", "must name at least one policy")
    for policy in ua.security_policies:
        if policy not in POLICIES:
            raise where.error("opcua.security_policies", f"{label(policy)!r} is not one of {', '.join(POLICIES)}")
    secure = any(p != "None" for p in ua.security_policies)
    if secure and (ua.certificate is None or ua.private_key is None):
        raise where.error("opcua.certificate", "a Basic256Sha256 policy needs opcua.certificate and opcua.private_key")
    if not ua.allow_anonymous and not ua.users:
        raise where.error("opcua.users", "nobody could log in: add users, or set allow_anonymous: true")
    if ua.users and not secure:
        raise where.error("opcua.users", "passwords would cross the network in clear text with only policy None: "
                                         "add Basic256Sha256_SignAndEncrypt and a certificate")
    if len({u.username for u in ua.users}) != len(ua.users):
        raise where.error("opcua.users", "a username is given twice")
    if mq.username is not None and mq.password_file is None:
        raise where.error("mqtt.password_file", "mqtt.username needs mqtt.password_file")
    if mq.client_id is None:
        mq.client_id = f"edge-inspector-opcua-{cfg.station_id}"
