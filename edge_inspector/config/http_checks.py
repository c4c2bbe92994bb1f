"""Checks of the two HTTP servers the daemon opens: the metrics endpoint and the dashboard (ports, limits, the
hosts it answers to, and how its traffic is protected when it is reachable beyond this device)."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from .key_problem import KeyProblem, positive
from .label_names import check_defect_types
from .models import Config


def check_http_servers(cfg: Config) -> None:
    """metrics and dashboard: ports in range and distinct, rates and upload limits positive, doors bounded."""
    m = cfg.metrics
    if not 1 <= m.port <= 65535:
        raise KeyProblem("metrics.port", f"expected 1..65535, got {m.port}")
    if not (math.isfinite(m.broker_down_s) and m.broker_down_s > 0):
        raise KeyProblem("metrics.broker_down_s", f"expected a positive number, got {m.broker_down_s}")
    if m.enabled and cfg.dashboard.enabled and (m.host, m.port) == (cfg.dashboard.host, cfg.dashboard.port):
        raise KeyProblem("metrics.port", f"{m.port} is also dashboard.port")
    d = cfg.dashboard
    if not 1 <= d.port <= 65535:
        raise KeyProblem("dashboard.port", f"expected 1..65535, got {d.port}")
    if not d.host:
        raise KeyProblem("dashboard.host", "expected an address to bind, e.g. 127.0.0.1")
    if d.what_if_frames < 0:
        raise KeyProblem("dashboard.what_if_frames", f"expected an integer >= 0, got {d.what_if_frames}")
    positive("dashboard.threads", d.threads)
    for key, number in (("dashboard.what_if_max_mb", d.what_if_max_mb), ("dashboard.max_upload_mb", d.max_upload_mb),
                        ("dashboard.max_upload_megapixels", d.max_upload_megapixels),
                        ("dashboard.requests_per_s", d.requests_per_s)):
        if not (math.isfinite(number) and number > 0):
            raise KeyProblem(key, f"expected a positive number, got {number}")
    if not (math.isfinite(d.request_burst) and d.request_burst >= 10):
        raise KeyProblem("dashboard.request_burst",
                         f"expected a number >= 10 (an upload costs 10), got {d.request_burst}")
    _check_dashboard_doors(d)
    check_defect_types(d)


def _check_dashboard_doors(d: Any) -> None:
    """allowed_hosts bounded; a dashboard reachable beyond loopback says how its traffic is protected."""
    if len(d.allowed_hosts) > 32:
        raise KeyProblem("dashboard.allowed_hosts", f"expected at most 32 names, got {len(d.allowed_hosts)}")
    for i, name in enumerate(d.allowed_hosts):
        if not 1 <= len(name) <= 253 or any(c.isspace() or c in "/@?#," for c in name):
            raise KeyProblem(f"dashboard.allowed_hosts[{i}]", f"expected a host name or address, got {name[:80]!r}")
    host = d.host.strip().strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if host in ("0.0.0.0", "::") and not d.allowed_hosts:
        raise KeyProblem("dashboard.allowed_hosts", f"required when dashboard.host is {host}: the names and "
                                                    "addresses browsers use to reach this device")
    if not loopback and not (d.tls_proxy or d.allow_plain_http):
        raise KeyProblem("dashboard.host", f"{host[:80]} is reachable beyond this device: put a TLS reverse proxy in "
                                           "front (dashboard.tls_proxy: true, docs/dashboard.md) or accept plain "
                                           "HTTP with dashboard.allow_plain_http: true")
