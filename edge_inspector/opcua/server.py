"""Run the OPC UA server: accounts and security from the config, the address space, and the loop that turns the
MQTT feed into node values and ResultReady events, one per verdict, in the order the verdicts arrived.
The feed-to-nodes loop, with its exactly-once rule through restarts, is pump.py.

Security: only the identity tokens the config allows are offered (anonymous refused unless
`opcua.allow_anonymous`); a username must match one of `opcua.users` (password from its file, compared in
constant time); no account is ever an administrator, and the permission rules below refuse every Write and
node-management request, on top of every variable being read-only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import USER_TYPES, SimpleRoleRuleset, User, UserRole
from asyncua.server.user_managers import UserManager

from ..config.secrets import check_secret_file, read_secret
from .address_space import StationNodes, build, show_result
from .config import OpcuaServerConfig
from .feed import MqttFeed
from .pump import Results, open_store, pump
from .result_events import EventHistory

log = logging.getLogger(__name__)
POLICIES = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}


class Accounts(UserManager):
    """asyncua user manager: the configured users (role User), anonymous only when allowed, nobody else."""

    def __init__(self, passwords: dict[str, str], allow_anonymous: bool) -> None:
        self._passwords = {name: pw.encode() for name, pw in passwords.items()}
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.Anonymous) if self.allow_anonymous else None
        expected = self._passwords.get(username)
        given = (password or "").encode() if isinstance(password, str) else bytes(password or b"")
        if expected is None or not hmac.compare_digest(expected, given):
            log.warning("OPC UA login refused for user %r", username[:64])
            return None
        return User(role=UserRole.User, name=username)


class ReadOnlyRules(SimpleRoleRuleset):
    """Reads, browses and subscriptions for every accepted session; no Write, no node management."""

    def __init__(self) -> None:
        super().__init__()
        write = ua.ObjectIds.WriteRequest_Encoding_DefaultBinary
        self._allowed = {ua.NodeId(ua.Int32(kind)) for kind in USER_TYPES if kind != write}

    def check_validity(self, user: Any, action_type: Any, body: Any) -> bool:
        return action_type in self._allowed


async def _trust_list(paths: list[Path]) -> Any:
    trusted = set()
    for path in paths:
        try:
            trusted.add(uacrypto.der_from_x509(await uacrypto.load_certificate(path)))
        except (OSError, ValueError) as exc:
            raise ValueError(f"opcua.trusted_clients {path}: not a certificate ({exc})") from None

    async def validate(cert: Any, app: Any) -> None:
        if uacrypto.der_from_x509(cert) not in trusted:
            log.warning("OPC UA client certificate refused: not in opcua.trusted_clients (%s)", str(cert.subject)[:200])
            raise ua.uaerrors.BadCertificateUntrusted
    return validate


async def make_server(cfg: OpcuaServerConfig) -> tuple[Server, StationNodes]:
    """An asyncua Server set up from the config, with the station's nodes built (not started)."""
    ua_cfg = cfg.opcua
    passwords = {u.username: read_secret(u.password_file, f"opcua.users[{i}].password_file")
                 for i, u in enumerate(ua_cfg.users)}
    server = Server(user_manager=Accounts(passwords, ua_cfg.allow_anonymous))
    await server.init()
    server.set_endpoint(ua_cfg.endpoint)
    server.set_server_name(ua_cfg.server_name)
    await server.set_application_uri(ua_cfg.application_uri)
    if ua_cfg.certificate is not None and ua_cfg.private_key is not None:
        check_secret_file(ua_cfg.private_key, "opcua.private_key")
        await server.load_certificate(str(ua_cfg.certificate))
        await server.load_private_key(str(ua_cfg.private_key))
    server.set_security_policy([POLICIES[p] for p in ua_cfg.security_policies], permission_ruleset=ReadOnlyRules())
    tokens: list[type] = [ua.UserNameIdentityToken] if ua_cfg.users else []
    if ua_cfg.allow_anonymous:
        tokens.append(ua.AnonymousIdentityToken)
    server.set_identity_tokens(tokens)
    if ua_cfg.trusted_clients:
        server.set_certificate_validator(await _trust_list(ua_cfg.trusted_clients))
    return server, await build(server, ua_cfg.namespace_uri)


async def serve(cfg: OpcuaServerConfig, stop: asyncio.Event) -> None:
    """Serve until `stop` is set: the OPC UA endpoint plus the MQTT feed."""
    for noisy in ("asyncua",):  # asyncua logs every session and request at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mq = cfg.mqtt
    password = read_secret(mq.password_file, "mqtt.password_file") if mq.password_file is not None else None
    store = open_store(cfg)
    server, nodes = await make_server(cfg)
    history = EventHistory(store, nodes, cfg.station_id, mq.max_message_bytes)
    server.iserver.history_manager.set_storage(history)
    last = store.last()
    if last is not None and (verdict := history.verdict(last)) is not None:
        await show_result(nodes, verdict)  # LastResult survives a restart
    feed = MqttFeed(mq, cfg.station_id, password)
    results = Results(store, nodes, feed, cfg.opcua.dedup_window)
    async with server:
        log.info("OPC UA server for station %s on %s (%s); MQTT %s:%d prefix %s; %d results in the history (%s)",
                 cfg.station_id, cfg.opcua.endpoint, ", ".join(cfg.opcua.security_policies), mq.host, mq.port,
                 mq.topic_prefix, store.count(), store.path or "memory only")
        feed.start()
        try:
            await pump(feed, nodes, results, stop)
        finally:
            feed.stop()
            store.close()
    log.info("OPC UA server stopped")


def run(cfg: OpcuaServerConfig) -> int:
    """Blocking entry point for the CLI verb: serve until SIGTERM or SIGINT, then exit 0."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(cfg, stop)

    asyncio.run(main())
    return 0
