"""Checks of the `sparkplug` section (the Sparkplug B edge node, docs/deploy.md): its ids are single topic levels,
its bounds are positive, and its MQTT client id is not the contract connection's (the broker would keep
dropping one connection for the other)."""

from __future__ import annotations

import math

from .key_problem import KeyProblem, positive
from .models import Config
from .redact import cap

MAX_ID = 128
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # MQTT's own limit is 256 MB; an NCMD is a few hundred bytes


def sparkplug_client_id(cfg: Config) -> str:
    """The edge node's MQTT client id: configured, or edge-inspector-<station_id>-sparkplug."""
    return cfg.sparkplug.client_id or f"edge-inspector-{cfg.station_id}-sparkplug"


def check_sparkplug(cfg: Config) -> None:
    """Refuse a `sparkplug` section that cannot work, naming the key (checked whether enabled or not)."""
    sp = cfg.sparkplug
    ids = {"group_id": sp.group_id, "edge_node_id": sp.edge_node_id, "device_id": sp.device_id,
           "primary_host_id": sp.primary_host_id, "client_id": sp.client_id}
    for key, value in ids.items():
        if value is None:
            continue
        if not value or len(value) > MAX_ID or not value.isprintable() or any(c in value for c in "/+#"):
            raise KeyProblem(f"sparkplug.{key}",
                             f"expected 1-{MAX_ID} printable characters without /, + or #, got {cap(value, 80)}")
    for key in ("max_entries", "max_inflight", "max_message_bytes"):
        positive(f"sparkplug.{key}", getattr(sp, key))
    if sp.max_inflight > 65535:
        raise KeyProblem("sparkplug.max_inflight", f"expected at most 65535 (MQTT packet ids), got {sp.max_inflight}")
    if sp.max_message_bytes > MAX_MESSAGE_BYTES:
        raise KeyProblem("sparkplug.max_message_bytes", f"expected at most {MAX_MESSAGE_BYTES}, got "
                         f"{sp.max_message_bytes}")
    if not (math.isfinite(sp.max_age_hours) and sp.max_age_hours > 0):
        raise KeyProblem("sparkplug.max_age_hours", f"expected a positive number, got {sp.max_age_hours}")
    contract = cfg.mqtt.client_id or f"edge-inspector-{cfg.station_id}"
    if sp.enabled and cfg.mqtt.enabled and sparkplug_client_id(cfg) == contract:
        raise KeyProblem("sparkplug.client_id", f"must differ from the contract's MQTT client id {cap(contract, 80)} "
                         "(one broker session each)")
