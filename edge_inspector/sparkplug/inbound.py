"""The two doors the edge node listens on: the primary host's STATE and the node's NCMD, both bounded.

Each message's size is checked before it is parsed; a message that is too big or unreadable is counted by
kind and logged (capped, at most once a minute per kind) and never stops the node. STATE is Sparkplug 3.0's
retained JSON `{"online": bool, "timestamp": ms}` on `spBv1.0/STATE/{host_id}`; a STATE older than the last
one taken is stale and ignored (a late retained copy must not flip the host back), an empty retained
message (a cleared STATE) means the host is unknown, i.e. offline.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass

from ..config.redact import cap
from ..publish.log_throttle import KindThrottles
from .node import wants_rebirth
from .payload import PayloadError, decode

log = logging.getLogger(__name__)
MAX_STATE_BYTES = 4096  # {"online":true,"timestamp":1714564800123} is 40 bytes
MAX_NCMD_BYTES = 65536


class InboundError(ValueError):
    """A message the node cannot take; `kind` names the counter."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class HostState:
    """The primary host application's STATE."""

    online: bool
    timestamp: int


def parse_state(payload: bytes, max_bytes: int = MAX_STATE_BYTES) -> HostState | None:
    """A STATE message; None for an empty (cleared) one. Raises InboundError."""
    if len(payload) > max_bytes:
        raise InboundError("oversize", f"STATE of {len(payload)} bytes, more than {max_bytes}")
    if not payload:
        return None
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InboundError("bad_state", f"STATE is not JSON: {cap(str(exc), 120)}") from None
    if not isinstance(obj, dict):
        raise InboundError("bad_state", "STATE is not a JSON object")
    online, ts = obj.get("online"), obj.get("timestamp")
    if not isinstance(online, bool):
        raise InboundError("bad_state", f"STATE online: expected true or false, got {cap(online, 60)}")
    if ts is None:
        ts = 0  # Sparkplug 3.0 requires it; a host that omits it is taken, but cannot be ordered
    if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
        raise InboundError("bad_state", f"STATE timestamp: expected ms since the epoch, got {cap(ts, 60)}")
    return HostState(online, ts)


def parse_ncmd(payload: bytes, max_bytes: int = MAX_NCMD_BYTES) -> bool:
    """Whether an NCMD asks for a rebirth. Raises InboundError."""
    if len(payload) > max_bytes:
        raise InboundError("oversize", f"NCMD of {len(payload)} bytes, more than {max_bytes}")
    try:
        return wants_rebirth(decode(payload, max_bytes).metrics)
    except PayloadError as exc:
        raise InboundError("bad_ncmd", f"NCMD is not a Sparkplug B payload: {exc}") from None


class HostTracker:
    """The primary host's last STATE; online only after an online STATE and until an offline or empty one."""

    def __init__(self) -> None:
        self.state: HostState | None = None
        self.stale = 0

    @property
    def online(self) -> bool:
        return self.state is not None and self.state.online

    def take(self, new: HostState | None) -> bool:
        """Apply one parsed STATE; returns whether it was taken (False: stale, counted)."""
        if new is not None and self.state is not None and new.timestamp < self.state.timestamp:
            self.stale += 1
            return False
        self.state = new
        return True


class BadMessages:
    """Counts of refused messages by kind, with one capped warning per kind per minute."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._warnings = KindThrottles()  # one warning per kind a minute at most

    def count(self, topic: str, exc: InboundError) -> None:
        self.counts[exc.kind] += 1
        if self._warnings.hit(exc.kind) is not None:
            log.warning("sparkplug: dropped a message on %s (%s, %d so far; one warning per kind a minute): %s",
                        cap(topic, 120), exc.kind, self.counts[exc.kind], cap(str(exc), 200))
