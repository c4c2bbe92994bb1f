"""A technician's browser, simulated for `edge-inspector bench --e2e --dashboard`: what the dashboard's
pages request while open (state and the live frame every second, the rejects list every two seconds, a
what-if replay every two seconds as a slider moves), so the line's latency can be measured under it."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request


class DashboardPoller:
    """Polls one dashboard from a thread until stop(); counts requests and failures."""

    def __init__(self, base: str, interval: float = 1.0) -> None:
        self.base, self.interval = base, interval
        self.requests = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-poller", daemon=True)

    def start(self) -> DashboardPoller:
        self._thread.start()
        return self

    def halt(self) -> None:
        """Send no more requests (safe from any thread; does not wait)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _get(self, path: str) -> None:
        if self._stop.is_set():
            return
        self.requests += 1
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as res:
                res.read()
        except (urllib.error.URLError, OSError):
            self.failures += 1  # 503 before the first frame counts too: the bench reports it

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(self.interval):
            self._get("/api/state")
            self._get(f"/api/frame.jpg?t={tick}")
            if tick % 2 == 0:
                self._get("/api/rejects?limit=50")
                self._get(f"/api/what-if?image_threshold={0.3 + 0.01 * (tick % 40):.2f}")
            tick += 1
