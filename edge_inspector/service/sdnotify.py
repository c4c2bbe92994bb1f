"""Minimal systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) without extra dependencies.

Does nothing when not started by systemd (NOTIFY_SOCKET unset), so the daemon runs the same by hand.
"""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    """Sends sd_notify messages; pings the watchdog at most every half WATCHDOG_USEC."""

    def __init__(self) -> None:
        self._address = os.environ.get("NOTIFY_SOCKET")
        usec = os.environ.get("WATCHDOG_USEC", "")
        self._interval = int(usec) / 2e6 if usec.isdigit() else None
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> None:
        """Send one message such as READY=1; failures are ignored (systemd may be gone at shutdown)."""
        if not self._address:
            return
        address = self._address
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(address)
                sock.sendall(message.encode())
        except OSError:
            pass

    def watchdog(self) -> None:
        """Call from the processing loop: proves the loop, not just the process, is alive."""
        if self._interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self._interval:
            self._last_ping = now
            self.notify("WATCHDOG=1")
