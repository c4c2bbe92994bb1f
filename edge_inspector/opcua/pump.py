"""The loop from the MQTT feed to the nodes, and the rule that makes ResultReady events exactly once through
server restarts: each new verdict is committed to the result store before its event fires and before the
broker gets its acknowledgement (Results.take); a redelivered one that the store (or the memory window) knows
is dropped and counted. Also where the store lives: opcua.state_dir, else systemd's $STATE_DIRECTORY.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
from pathlib import Path

from .address_space import StationNodes, show_counters, show_result, show_state
from .config import OpcuaServerConfig
from .feed import Connected, Delivery, MqttFeed
from .messages import MessageError, Status
from .result_events import emit
from .result_store import OpcuaStateError, ResultStore
from .state import Dedup, vision_state

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.02  # how often an idle loop looks at the feed's queue


class Results:
    """Verdicts to results: de-duplicated (memory window + the store), committed, shown, fired, acknowledged."""

    def __init__(self, store: ResultStore, nodes: StationNodes, feed: MqttFeed, window: int) -> None:
        self.store, self.nodes, self.feed = store, nodes, feed
        self.dedup = Dedup(window)
        for key in store.recent_keys(window):
            self.dedup.fresh(key)
        self.dedup.duplicates = 0
        self.emitted = 0

    async def take(self, delivery: Delivery) -> None:
        """Commit before the event and the acknowledgement: a crash anywhere neither loses nor repeats a result.
        A commit that fails is not acknowledged (the pump stops the server; the broker keeps the verdict)."""
        verdict = delivery.verdict
        if not self.dedup.fresh(verdict.key) or self._known(verdict.key):  # fresh() counts its duplicates
            self.feed.ack(delivery)
            return
        stored = self.store.record(verdict.key, delivery.payload)
        try:
            self.emitted += 1
            await show_result(self.nodes, verdict)
            await emit(self.nodes, verdict, stored.time_us)
        finally:
            self.feed.ack(delivery)  # recorded: in the history even if the live event failed

    def _known(self, key: tuple[str, str, int]) -> bool:
        """Emitted before the memory window (or before a restart): the store knows it."""
        if self.store.has(key):
            self.dedup.duplicates += 1
            return True
        return False


async def pump(feed: MqttFeed, nodes: StationNodes, results: Results, stop: asyncio.Event) -> None:
    """Apply the feed's items to the nodes in arrival order until `stop` is set."""
    status: Status | None = None
    connected = False
    await show_state(nodes, vision_state(status, connected), status, connected)
    shown: tuple[int, int, int] | None = None
    while not stop.is_set():
        # rejected messages and duplicates make no event: show the counts anyway
        counts = (results.emitted, results.dedup.duplicates, sum(feed.counters.rejected.values()))
        if counts != shown:
            await show_counters(nodes, *counts)
            shown = counts
        try:
            item = feed.items.get_nowait()
        except queue.Empty:
            await asyncio.sleep(IDLE_POLL_S)
            continue
        try:
            if isinstance(item, Delivery):
                await results.take(item)
            else:
                if isinstance(item, Connected):
                    connected = item.up
                else:
                    status = item
                await show_state(nodes, vision_state(status, connected), status, connected)
        except sqlite3.Error as exc:  # the disk under the history failed: no result may go unrecorded
            raise OpcuaStateError(f"opcua.state_dir: the result history failed ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - one item the nodes cannot take must not stop the server
            feed.counters.reject("(opc ua side)", MessageError("nodes", f"{type(exc).__name__}: {exc}"))


def state_dir(cfg: OpcuaServerConfig) -> Path | None:
    """opcua.state_dir, else systemd's $STATE_DIRECTORY (its first entry), else None (memory only)."""
    if cfg.opcua.state_dir is not None:
        return cfg.opcua.state_dir
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(env) if env else None


def open_store(cfg: OpcuaServerConfig) -> ResultStore:
    ua_cfg = cfg.opcua
    folder = state_dir(cfg)
    if folder is None:
        log.warning("no opcua.state_dir and no $STATE_DIRECTORY: the result history and the record of emitted "
                    "results are kept in memory and do not survive a restart")
    return ResultStore(folder, ua_cfg.history_max_results, ua_cfg.history_max_age_days * 86400.0,
                       ua_cfg.history_max_mib * 1024 * 1024)
