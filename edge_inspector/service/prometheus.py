"""Prometheus metrics and a health check on a local HTTP port (`metrics.enabled`; docs/metrics.md).

Per inspection only counters and histograms are updated (observe(), microseconds, on the inspection
thread); everything else (spool depth, broker connection, capture state, drops, sink errors, the Sparkplug
edge node's counters) is read from the run state (run_state.py), the capture and the sinks when Prometheus
scrapes. /healthz answers 503 with its reasons when the capture is stalled or failed, the broker connection
has been down longer than `metrics.broker_down_s`, or the inspection loop stopped turning; 200 otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from ..types import Inspection, Verdict

if TYPE_CHECKING:
    from ..capture import CaptureThread
    from ..config import MetricsConfig
    from ..sparkplug.edge_node import EdgeNodeStats
    from .run_state import RunState
    from .sinks import Sinks

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CAPTURE_STATES = ("starting", "running", "stalled", "reconnecting", "idle", "ended", "failed")
LOOP_STUCK_S = 10.0  # the inspection loop turns at least every 0.2 s; this long without a turn is a hang


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes every few seconds would flood the journal."""


class Metrics:
    """The registry of one daemon run; observe() per inspection, serve() for the HTTP endpoint."""

    def __init__(self, state: RunState, cfg: MetricsConfig) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.state, self.cfg = state, cfg
        self.registry = CollectorRegistry()
        self.verdicts = Counter("edge_inspector_verdicts", "Verdicts published, by kind", ["verdict"],
                                registry=self.registry)
        for v in Verdict:
            self.verdicts.labels(v.value)
        self.latency = Histogram("edge_inspector_decision_latency_seconds", "Capture to decided verdict",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inference = Histogram("edge_inspector_inference_seconds", "Scorer time per frame",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self.capture: CaptureThread | None = None
        self.sinks: Sinks | None = None
        self._broker_down_since: float | None = None
        self.registry.register(_Live(self))
        self._server: Any = None

    def observe(self, inspection: Inspection, _evidence: object = None) -> None:
        """Count one verdict (a Sinks observer: on the inspection thread, cheap)."""
        self.verdicts.labels(Verdict(inspection.verdict).value).inc()
        self.latency.observe(inspection.latency_ms / 1000.0)
        if inspection.score is not None:
            self.inference.observe(inspection.inference_ms / 1000.0)

    def attach(self, capture: CaptureThread, sinks: Sinks) -> None:
        """The parts read at scrape time, once the daemon made them."""
        self.capture, self.sinks = capture, sinks

    def health(self) -> tuple[bool, list[str]]:
        """(healthy, reasons it is not)."""
        problems: list[str] = []
        if self.capture is not None:
            h = self.capture.health()
            if h.state in ("stalled", "failed", "reconnecting"):
                problems.append(f"capture {h.state}: {h.detail}")
        sender = self.sinks.sender if self.sinks is not None else None
        if sender is not None:
            connected = sender.stats().connected
            now = time.monotonic()
            if connected:
                self._broker_down_since = None
            elif self._broker_down_since is None:
                self._broker_down_since = now
            elif now - self._broker_down_since > self.cfg.broker_down_s:
                problems.append(f"broker disconnected for {now - self._broker_down_since:.0f} s")
        age = time.monotonic() - self.state.loop_turned
        if age > LOOP_STUCK_S:
            problems.append(f"inspection loop has not turned for {age:.0f} s")
        return not problems, problems

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI: /metrics (Prometheus text format) and /healthz (JSON)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest(self.registry)]
        if path == "/healthz":
            ok, problems = self.health()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps({"healthy": ok, "problems": problems}).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    def serve(self) -> None:
        """Listen on metrics.host:port in a daemon thread; OSError (port taken) names the key."""
        from prometheus_client.exposition import ThreadingWSGIServer

        try:
            self._server = make_server(self.cfg.host, self.cfg.port, self.app, ThreadingWSGIServer, _Quiet)
        except OSError as exc:
            raise OSError(f"metrics.port: cannot listen on {self.cfg.host}:{self.cfg.port} ({exc})") from None
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics and /healthz", self.cfg.host, self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


SPARKPLUG_COUNTERS = (  # EdgeNodeStats field -> help; exposed as edge_inspector_sparkplug_<field>_total
    ("births", "Sparkplug NBIRTHs published (one per session, plus rebirths)"),
    ("published", "Sparkplug verdict DDATA handed to the broker (resends after an outage included)"),
    ("acknowledged", "Sparkplug verdict DDATA acknowledged by the broker"),
    ("historical", "Sparkplug verdict DDATA published as historical (held through an outage)"),
    ("reconnects", "Sparkplug broker connections after the first"),
    ("bad_messages", "NCMD/STATE messages dropped (oversize, unreadable)"),
    ("bad_entries", "Sparkplug outbox entries that could not be read (dropped)"),
    ("write_errors", "Sparkplug outbox writes that failed (the verdict was held in memory)"),
    ("memory_dropped", "Verdicts lost to Sparkplug from its memory queue (full, or unsaved at stop)"),
)
SPARKPLUG_GAUGES = (  # (series suffix, EdgeNodeStats field, help)
    ("connected", "connected", "1 when the Sparkplug edge node is connected to the broker"),
    ("host_online", "host_online", "1 when the primary host's STATE is online (always 1 without one)"),
    ("outbox_depth", "depth", "Verdicts waiting for Sparkplug: in its outbox file and in memory"),
    ("inflight", "inflight", "Sparkplug verdict DDATA sent and not yet acknowledged"),
    ("memory_depth", "memory_depth", "Verdicts held only in memory for Sparkplug (its outbox refused them)"),
)


def sparkplug_families(st: EdgeNodeStats) -> Iterator[Any]:
    """The Sparkplug edge node's series (sparkplug.enabled only)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    for field, text in SPARKPLUG_COUNTERS:
        yield CounterMetricFamily(f"edge_inspector_sparkplug_{field}", text, value=getattr(st, field))
    for suffix, field, text in SPARKPLUG_GAUGES:
        yield GaugeMetricFamily(f"edge_inspector_sparkplug_{suffix}", text, value=float(getattr(st, field)))


class _Live:
    """Values read from the run state, capture and sinks at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.m.state.summary
        frames = CounterMetricFamily("edge_inspector_frames", "Frames given a verdict")
        frames.add_metric([], s.frames)
        yield frames
        drops = CounterMetricFamily("edge_inspector_dropped_frames", "Frames not inspected, by cause", labels=["kind"])
        for kind, n in (("queue_full", s.dropped), ("unreadable", s.unreadable), ("unsupported", s.unsupported)):
            drops.add_metric([kind], n)
        yield drops
        errors = CounterMetricFamily("edge_inspector_scorer_errors", "Frames the scorer failed on (FAULT)")
        errors.add_metric([], s.scorer_errors)
        yield errors
        sinks = self.m.sinks
        if sinks is not None:
            failed = CounterMetricFamily("edge_inspector_sink_errors", "Sink failures, by sink", labels=["sink"])
            for name, n in sinks.errors.items():
                failed.add_metric([name], n)
            yield failed
            if sinks.sender is not None:
                st = sinks.sender.stats()
                yield GaugeMetricFamily("edge_inspector_spool_depth", "Verdicts waiting for the broker",
                                        value=st.depth)
                yield GaugeMetricFamily("edge_inspector_broker_connected", "1 when connected to the broker",
                                        value=1.0 if st.connected else 0.0)
            if sinks.sparkplug is not None:
                yield from sparkplug_families(sinks.sparkplug.stats())
        capture = self.m.capture
        if capture is not None:
            state = GaugeMetricFamily("edge_inspector_capture_state", "1 for the capture's current state",
                                      labels=["state"])
            now = capture.health().state
            for name in CAPTURE_STATES:
                state.add_metric([name], 1.0 if name == now else 0.0)
            yield state
        healthy = GaugeMetricFamily("edge_inspector_healthy", "1 when /healthz answers 200")
        healthy.add_metric([], 1.0 if self.m.health()[0] else 0.0)
        yield healthy
