"""The OPC UA server's own config file (`edge-inspector opcua-server --config OPCUA.yaml`), read strictly.

A separate file from the station's: the server is a separate process, fed only by the station's MQTT contract,
and may run on another machine. Read with the package's safe YAML loader (size cap, no anchors, no duplicate
keys) and built by its one typed builder (config/typed_build.build_typed); the server's own ranges and rules are
below. An unknown key, a wrong type or a value out of range is a one-line OpcuaConfigError in the station
config's form (config/loader.located): file, key, the (capped) value and line. Secrets are not read here: users
name a password file (server.py reads it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config.field_limits import Limit, check_limits, require
from ..config.key_problem import KeyProblem, describe
from ..config.typed_file import read_typed_file
from ..errors import UserError

MAX_CONFIG_BYTES = 256 * 1024  # a few dozen lines; a bigger file is not a config
POLICIES = ("None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt")
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")  # station ids and usernames, as in the MQTT contract
MAX_TEXT = 1024  # characters of one string value (paths, URLs, names)
MAX_LIST = 64  # items of one list value (policies, trusted certificates, users)
# inclusive bounds of the integer keys; any other integer takes 0 to 2**31-1
BOUNDS: dict[str, Limit] = {
    "mqtt.port": (1, 65535),
    "mqtt.keepalive": (5, 3600),
    "mqtt.max_message_bytes": (1024, 16 * 1024 * 1024),
    "opcua.dedup_window": (1, 10_000_000),
    "opcua.history_max_results": (1, 10_000_000),
    "opcua.history_max_age_days": (1, 3650),
    "opcua.history_max_mib": (1, 1_048_576),
}


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
    # where results.sqlite (event history, emitted keys) lives; default $STATE_DIRECTORY, else memory only
    state_dir: Path | None = None
    history_max_results: int = 100_000  # results kept for HistoryRead (oldest dropped first)
    history_max_age_days: int = 30  # results older than this are dropped from the history
    history_max_mib: int = 1024  # live size cap of results.sqlite; a file over twice this is moved aside


@dataclass
class OpcuaServerConfig:
    """OPCUA.yaml: which station to serve, its broker, and the OPC UA endpoint."""

    station_id: str = ""
    mqtt: FeedMqtt = field(default_factory=FeedMqtt)
    opcua: OpcuaEndpoint = field(default_factory=OpcuaEndpoint)
    source: Path | None = field(default=None, init=False)  # the file it was read from, for messages


def load_opcua_config(path: Path | str) -> OpcuaServerConfig:
    """Read and check OPCUA.yaml; OpcuaConfigError (one line) for every problem, FileNotFoundError if absent."""
    path = Path(path)
    cfg = read_typed_file(path, OpcuaServerConfig, what="OPC UA server config", max_bytes=MAX_CONFIG_BYTES,
                          check=_check, error=OpcuaConfigError)
    cfg.source = path
    return cfg


def _check(cfg: OpcuaServerConfig, data: object) -> None:
    _names(cfg, data)
    check_limits(cfg, BOUNDS, text_max=MAX_TEXT, numbers=(0, 2**31 - 1), list_max=MAX_LIST)
    _cross_checks(cfg)


def _names(cfg: OpcuaServerConfig, data: object) -> None:
    """The station id and every username: 1-64 characters of A-Za-z0-9._- (as in the MQTT contract)."""
    names = [("station_id", cfg.station_id)]
    for i, user in enumerate(cfg.opcua.users):
        for key in ("username", "password_file"):
            require(data, f"opcua.users[{i}].{key}", "required: a user is a mapping with username and password_file")
        names.append((f"opcua.users[{i}].username", user.username))
    for key, name in names:
        if not NAME.match(name):
            raise KeyProblem(key, f"expected 1-64 characters of A-Za-z0-9._-, got {describe(name)}")


def _cross_checks(cfg: OpcuaServerConfig) -> None:
    ua, mq = cfg.opcua, cfg.mqtt
    if not ua.endpoint.startswith("opc.tcp://"):
        raise KeyProblem("opcua.endpoint", f"must start with opc.tcp://, got {describe(ua.endpoint)}")
    if not ua.security_policies:
        raise KeyProblem("opcua.security_policies", "must name at least one policy")
    for policy in ua.security_policies:
        if policy not in POLICIES:
            raise KeyProblem("opcua.security_policies",
                             f"expected one of {', '.join(POLICIES)}, got {describe(policy)}")
    secure = any(p != "None" for p in ua.security_policies)
    if secure and (ua.certificate is None or ua.private_key is None):
        raise KeyProblem("opcua.certificate", "a Basic256Sha256 policy needs opcua.certificate and opcua.private_key")
    if not ua.allow_anonymous and not ua.users:
        raise KeyProblem("opcua.users", "nobody could log in: add users, or set allow_anonymous: true")
    if ua.users and not secure:
        raise KeyProblem("opcua.users", "passwords would cross the network in clear text with only policy None: "
                                        "add Basic256Sha256_SignAndEncrypt and a certificate")
    if len({u.username for u in ua.users}) != len(ua.users):
        raise KeyProblem("opcua.users", "a username is given twice")
    if mq.username is not None and mq.password_file is None:
        raise KeyProblem("mqtt.password_file", "mqtt.username needs mqtt.password_file")
    if mq.client_id is None:
        mq.client_id = f"edge-inspector-opcua-{cfg.station_id}"
