"""Prometheus metrics and /healthz on the running daemon: scraped over HTTP with a real broker, which is then
stopped (healthz turns 503 with the reason) and started again (200)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import wait_for, write_config
from helpers.mjpeg_server import free_port

from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    status, text = get(base + "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_are_scraped_and_healthz_follows_the_broker(tmp_path: Path, trained_model: Any,
                                                             fresh_broker: Any) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=8, defect_rate=0.5, size=size, seed=5)
    port = free_port()
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=fresh_broker, station="m1",
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime", "fps": 8.0},
                          metrics={"enabled": True, "port": port, "broker_down_s": 1.0})
    daemon = Daemon(load_config(config))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: daemon.summary.frames >= 6, 60.0)
        assert wait_for(lambda: get(base + "/healthz")[0] == 200, 10.0), get(base + "/healthz")
        m = scrape(base)
        verdicts = {v: m[("edge_inspector_verdicts_total", (("verdict", v),))] for v in ("PASS", "FAIL", "FAULT")}
        frames = m[("edge_inspector_frames_total", ())]
        assert sum(verdicts.values()) >= frames - 1 >= 5  # one verdict may be decided between the two reads
        assert verdicts["FAIL"] > 0 and verdicts["PASS"] > 0
        assert m[("edge_inspector_decision_latency_seconds_count", ())] == sum(verdicts.values())
        assert m[("edge_inspector_broker_connected", ())] == 1.0
        assert m[("edge_inspector_capture_state", (("state", "running"),))] == 1.0
        assert m[("edge_inspector_healthy", ())] == 1.0
        assert ("edge_inspector_spool_depth", ()) in m
        assert ("edge_inspector_sink_errors_total", (("sink", "audit"),)) in m

        fresh_broker.stop()
        assert wait_for(lambda: get(base + "/healthz")[0] == 503, 15.0), "a dead broker makes the daemon unhealthy"
        body = json.loads(get(base + "/healthz")[1])
        assert not body["healthy"] and any(p.startswith("broker disconnected for") for p in body["problems"])
        assert scrape(base)[("edge_inspector_broker_connected", ())] == 0.0
        fresh_broker.start()
        assert wait_for(lambda: get(base + "/healthz")[0] == 200, 30.0), "healthy again once reconnected"
        assert get(base + "/nothing")[0] == 404
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
