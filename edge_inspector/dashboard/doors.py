"""The dashboard's doors: which Host names it answers, who may read, and how often one client may ask.

- Host check: a browser that DNS-rebinds `evil.example` to 127.0.0.1 sends `Host: evil.example`; only the
  names in dashboard.allowed_hosts (loopback names and the bound address by default) are answered.
- Reads need the token when the dashboard is reachable from the network (bound beyond loopback, or behind a
  TLS proxy, which forwards everyone's requests from loopback). Browsers log in once (POST /api/login with
  the bearer token) and get an HttpOnly SameSite=Strict session cookie, so <img> tags work; POSTs always
  need the bearer header itself (a cookie is never enough to change anything: no cross-site requests).
- A token bucket per remote address bounds what any one client can make the device do.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # bind-to-all addresses: no browser sends them as a Host
SESSION_COOKIE = "ei_session"
MAX_CLIENTS = 1024  # token buckets kept; the least recently seen client is forgotten first


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header without its port, lower case: '[::1]:8088' -> '::1', 'a.b:80' -> 'a.b'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header  # a bare name, or a bare IPv6 address


def allowed_hosts(bound: str, configured: Iterable[str]) -> frozenset[str]:
    """dashboard.allowed_hosts, or by default the loopback names and the bound address."""
    names = [h.strip().lower().strip("[]") for h in configured]
    if not names:
        names = [*LOOPBACK_NAMES, bound.strip().lower().strip("[]")]
    return frozenset(n for n in names if n not in WILDCARDS)


def session_value(token: str) -> str:
    """The session cookie's value: derived from the token, so it never carries the token itself."""
    return hmac.new(token.encode(), b"edge-inspector dashboard session", hashlib.sha256).hexdigest()


class RateLimiter:
    """A token bucket per client: `rate` tokens a second, at most `burst` saved up; thread-safe, bounded."""

    def __init__(self, rate: float, burst: float, clients: int = MAX_CLIENTS) -> None:
        self.rate, self.burst, self.clients = rate, burst, clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str, cost: float = 1.0) -> float:
        """0 when the request may go ahead (its cost taken), otherwise the seconds to wait before asking again."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.clients:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """A Retry-After header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
