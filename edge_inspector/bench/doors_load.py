"""Hostile load on the daemon's doors for `edge-inspector bench --e2e --hammer/--flood`: several HTTP clients
requesting every dashboard read route as fast as the server answers, and a publisher sending oversized
messages to the command and trigger topics, so the line's FAULT count and latency can be measured under it.

The load runs in a child process of its own, as browsers and PLCs are other machines: its threads do not
take the daemon's interpreter lock, only its CPU, as they would on a shared line PC.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

# Every read route of the dashboard, each with the parameters that make it do the most work.
READ_PATHS = ("/api/state", "/api/frame.jpg", "/api/rejects?limit=200", "/api/what-if?image_threshold=0.5",
              "/api/history", "/api/verdicts.csv", "/", "/rejects", "/threshold", "/inspect")


@dataclass(frozen=True)
class DoorsLoad:
    """What to send: `clients` HTTP clients on `base` (with `token`), and `flood_bytes` messages at
    `flood_per_s` to `topics` on the broker at host:port (0 bytes: no flood)."""

    base: str | None = None
    token: str | None = None
    clients: int = 0
    broker: tuple[str, int] | None = None
    topics: tuple[str, ...] = ()
    flood_bytes: int = 0
    flood_per_s: float = 2.0


def _hammer(base: str, token: str | None, stop: threading.Event, counts: dict[str, int], lock: threading.Lock,
            offset: int) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    i = offset
    while not stop.is_set():
        path = READ_PATHS[i % len(READ_PATHS)]
        i += 1
        key = "ok"
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=30) as res:
                res.read()
        except urllib.error.HTTPError as err:
            key = "limited" if err.code == 429 else f"http_{err.code}"
        except (urllib.error.URLError, OSError):
            key = "failed"
        with lock:
            counts[key] = counts.get(key, 0) + 1


def _flood(load: DoorsLoad, stop: threading.Event, counts: dict[str, int], lock: threading.Lock) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    assert load.broker is not None
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-bench-flood-{time.monotonic_ns()}")
    client.connect(*load.broker)
    client.loop_start()
    payload = b'{"id": "flood", "action": "show", "author": "' + b"a" * max(0, load.flood_bytes - 48) + b'"}'
    try:
        while not stop.wait(1.0 / load.flood_per_s):
            for topic in load.topics:
                client.publish(topic, payload, qos=0)
                with lock:
                    counts["flood_messages"] = counts.get("flood_messages", 0) + 1
    finally:
        client.disconnect()
        client.loop_stop()


def _main(load: DoorsLoad, stop: Any, out: Any) -> None:
    counts: dict[str, int] = {}
    lock = threading.Lock()
    done = threading.Event()
    threads = [threading.Thread(target=_hammer, args=(load.base, load.token, done, counts, lock, i), daemon=True)
               for i in range(load.clients) if load.base]
    if load.flood_bytes > 0 and load.broker is not None:
        threads.append(threading.Thread(target=_flood, args=(load, done, counts, lock), daemon=True))
    for t in threads:
        t.start()
    stop.wait()
    done.set()
    for t in threads:
        t.join(timeout=35.0)
    out.put(dict(counts))


class DoorsLoadProcess:
    """start() the load in a child process; stop() ends it and returns what was sent and answered."""

    def __init__(self, load: DoorsLoad) -> None:
        ctx = mp.get_context("spawn")  # no copy of the daemon's threads or sockets
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_main, args=(load, self._stop, self._out), name="doors-load", daemon=True)

    def start(self) -> DoorsLoadProcess:
        self._proc.start()
        return self

    def halt(self) -> None:
        """Send no more (safe from any thread; does not wait)."""
        self._stop.set()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        try:
            counts: dict[str, int] = self._out.get(timeout=60.0)
        except Exception:  # noqa: BLE001 - a load process that died reports nothing; the bench says so
            counts = {"load_process_failed": 1}
        self._proc.join(timeout=5.0)
        if self._proc.is_alive():
            self._proc.kill()
        return counts
