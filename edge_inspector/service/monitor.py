"""Once per loop turn: capture state to the status topic, the systemd watchdog on progress, periodic stats.

The watchdog is pinged only while the pipeline makes progress: the capture delivers frames (or a
source configured `idle_ok` is alive and waiting for parts) and this loop turns. A hung camera, a
hung scorer or a dead capture thread stop the pings, so systemd restarts the service.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..capture import CaptureHealth, CaptureThread
from ..config.redact import redact
from ..publish.contract import iso_utc, stats_payload
from ..types import Verdict
from .stats import LatencyStats

if TYPE_CHECKING:
    from .run_state import RunState
    from .sinks import Sinks

log = logging.getLogger(__name__)
HEALTHY = frozenset({"starting", "running", "idle"})


def capture_status(health: CaptureHealth) -> dict[str, Any]:
    """The `capture` object of the status message (retained: no log filter sees it, so it is redacted here)."""
    return {"state": health.state, "since": iso_utc(health.since), "detail": redact(health.detail)}


def latency_object(stats: LatencyStats) -> dict[str, Any]:
    """LatencyStats as the stats message carries it (null figures when there is no sample)."""
    def num(value: float) -> float | None:
        return round(value, 3) if stats.n and math.isfinite(value) else None

    return {"n": stats.n, "p50": num(stats.p50), "p99": num(stats.p99), "mean": num(stats.mean),
            "max": num(stats.max)}


class Monitor:
    """Watches one run; tick() from the inspection loop."""

    def __init__(self, state: RunState, capture: CaptureThread, sinks: Sinks) -> None:
        self.state, self.capture, self.sinks = state, capture, sinks
        now = time.monotonic()
        self._started = now
        self._last_state = ""
        self._interval = state.cfg.mqtt.stats_interval
        self._next_stats = now + self._interval if self._interval > 0 else math.inf
        self._stats_from = (now, 0)
        self.errors = 0

    def tick(self) -> None:
        """Cheap; called at least every 0.2 s while the loop runs. Never raises: a broken monitor is logged
        and counted (and, as it then stops pinging the watchdog, systemd restarts the service)."""
        try:
            self._tick()
        except Exception:  # noqa: BLE001 - monitoring must not stop inspection
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                log.exception("monitor failed (%d times so far)", self.errors)

    def _tick(self) -> None:
        health = self.capture.health()
        if health.state != self._last_state:
            self._last_state = health.state
            self.sinks.set_status(capture=capture_status(health))
        if self.healthy(health):
            self.state.notifier.watchdog()
        now = time.monotonic()
        if now >= self._next_stats:
            self._next_stats = now + self._interval
            self._publish_stats(health, now)

    def healthy(self, health: CaptureHealth) -> bool:
        """Progress as the watchdog sees it."""
        return health.state in HEALTHY and health.heartbeat_age < self.state.cfg.source.stall_seconds

    def final(self, sinks: Sinks) -> None:
        """Last stats message and capture state before the sinks close; never raises."""
        try:
            health = self.capture.health()
            sinks.set_status(capture=capture_status(health))
            self._publish_stats(health, time.monotonic())
        except Exception:  # noqa: BLE001 - shutdown goes on
            log.exception("final stats failed")

    def _publish_stats(self, health: CaptureHealth, now: float) -> None:
        body = self.stats_body(health, now)
        self._stats_from = (now, self.state.summary.frames)
        self.sinks.publish_stats(stats_payload(self.state.cfg.station_id, self.state.run_id, body))
        s = self.state.summary
        self.state.notifier.notify(
            f"STATUS={body['fps']:.1f} fps; PASS {s.passed} FAIL {s.failed} FAULT {s.faults}; capture {health.state}"
            f"; spool {body['spool']['depth']}; broker {'up' if body['mqtt']['connected'] else 'down'}"
        )

    def stats_body(self, health: CaptureHealth, now: float) -> dict[str, Any]:
        """The body of one stats message (contract v2, docs/mqtt-contract.md)."""
        d, s = self.state, self.state.summary
        since, frames_then = self._stats_from
        cap = self.capture.stats()
        sender = self.sinks.sender.stats() if self.sinks.sender is not None else None
        ev = self.sinks.evidence
        janitor = self.sinks.janitor
        body: dict[str, Any] = {
            "uptime_s": round(now - self._started, 3),
            "interval_s": round(now - since, 3),
            "frames": s.frames,
            "verdicts": {Verdict.PASS.value: s.passed, Verdict.FAIL.value: s.failed, Verdict.FAULT.value: s.faults},
            "fps": round((s.frames - frames_then) / max(1e-9, now - since), 3),
            "latency_ms": latency_object(d.latency.recent()),
            "inference_ms": latency_object(d.inference.recent()),
            "drops": {"queue_full": s.dropped, "unreadable": s.unreadable, "unsupported": s.unsupported},
            "capture": {**capture_status(health), "read_failures": cap.read_failures, "reconnects": cap.reconnects},
            "spool": {
                "depth": sender.depth if sender else 0,
                "oldest_age_s": round(sender.oldest_age_s, 3) if sender and sender.oldest_age_s is not None else None,
                "dropped_full": sender.dropped_full if sender else 0,
                "dropped_age": sender.dropped_age if sender else 0,
                "write_errors": sender.write_errors if sender else 0,
                "memory_depth": sender.memory_depth if sender else 0,
                "memory_dropped": sender.memory_dropped if sender else 0,
            },
            "mqtt": {
                "connected": sender.connected if sender else False,
                "reconnects": sender.reconnects if sender else 0,
                "published": sender.published if sender else 0,
                "acknowledged": sender.acknowledged if sender else 0,
                "inflight": sender.inflight if sender else 0,
            },
            "sink_errors": dict(self.sinks.errors),
            "evidence": {"written": ev.written, "skipped_low_disk": ev.skipped_low_disk,
                         "pruned": janitor.deleted_files if janitor is not None else 0},
        }
        if self.sinks.sparkplug is not None:  # only with sparkplug.enabled: an optional key of contract 2
            body["sparkplug"] = asdict(self.sinks.sparkplug.stats())
        return body
