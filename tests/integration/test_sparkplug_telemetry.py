"""The Sparkplug edge node's counters through the front door: `edge-inspector run` with sparkplug enabled, a real
Mosquitto, a live MJPEG camera that falls quiet after a few parts (so the numbers stop moving), a primary host
simulated by its STATE and decoded by pysparkplug. The stats message's `sparkplug` object and the Prometheus
series are checked against what the independent host received, never against the node's own counters."""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

if not os.environ.get("CI"):  # .ci/run installs it: in CI a missing decoder fails instead of skipping
    pytest.importorskip("pysparkplug", reason="the independent Sparkplug decoder: pip install --no-deps "
                        "-c constraints.txt pysparkplug==0.6.1 (.ci/run does)")
pytest.importorskip("torch", reason="the tiny model needs torch")

from contract_schemas import validate_message  # noqa: E402
from helpers.daemon_process import DaemonProcess, audit_lines, wait_for, write_config  # noqa: E402
from helpers.mjpeg_server import MjpegServer, free_port  # noqa: E402
from helpers.sparkplug_host import Received, SparkplugHost, verdict_seqs  # noqa: E402
from helpers.tiny_model import make_model  # noqa: E402

pytestmark = pytest.mark.integration
PARTS = 16  # frames the camera sends before it falls quiet


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics over HTTP, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as res:
        text = res.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _verdict_ddata(host: SparkplugHost) -> list[Received]:
    return [m for m in host.of("DDATA") if "Inspection/Seq" in m.values()]


def _settled(host: SparkplugHost, audit: Path, quiet_s: float = 4.0) -> bool:
    """The camera is quiet: no new verdict for quiet_s and the host has one DDATA per audited verdict."""
    n = audit_lines(audit)
    time.sleep(quiet_s)
    return audit_lines(audit) == n > 0 and len(verdict_seqs(host.messages)) == n


def test_stats_and_prometheus_carry_the_sparkplug_counters_as_the_host_saw_them(
        tmp_path: Path, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    group, station = "D-tele", "spb-tele"
    host = SparkplugHost(mosquitto_broker.host, mosquitto_broker.port, group, "scada").start()
    host.set_state(False)  # the first verdicts are held, then published as historical
    stats_sub = mqtt_subscriber(mosquitto_broker, f"ei-rel/{station}/stats")  # checks each against the schema
    port = free_port()
    with MjpegServer(fps=4, size=64, quiet_after=PARTS) as camera:
        config = write_config(
            tmp_path / "c.yaml", model_dir=make_model(tmp_path / "model"), broker=mosquitto_broker, station=station,
            source={"kind": "url", "url": camera.url, "idle_ok": True}, mqtt={"stats_interval": 0.5},
            metrics={"enabled": True, "port": port},
            sparkplug={"enabled": True, "group_id": group, "edge_node_id": "line1", "device_id": "station",
                       "primary_host_id": "scada"})
        daemon = DaemonProcess(config, env={"OMP_NUM_THREADS": "1"}).start()
        audit = tmp_path / "out" / "audit.jsonl"
        try:
            assert wait_for(lambda: audit_lines(audit) >= 3, 180), daemon.output()[-3000:]
            assert host.of("NBIRTH", "DDATA") == [], "nothing while the host is offline"
            host.set_state(True)
            assert wait_for(lambda: len(verdict_seqs(host.messages)) >= 3, 60), daemon.output()[-3000:]
            host.rebirth("line1")
            assert host.wait_for(lambda: len(host.of("NBIRTH")) >= 2, 60)
            host.send_ncmd("line1", b"\x12\x05garbage")  # one NCMD the node cannot read: counted
            assert wait_for(lambda: _settled(host, audit), 180), daemon.output()[-3000:]

            births, ddata = len(host.of("NBIRTH")), _verdict_ddata(host)
            historical = sum(all(x.is_historical for x in m.payload.metrics) for m in ddata)
            expected = {"connected": True, "host_online": True, "births": births, "published": len(ddata),
                        "acknowledged": len(ddata), "historical": historical, "inflight": 0, "depth": 0,
                        "reconnects": 0, "bad_messages": 1, "bad_entries": 0, "write_errors": 0,
                        "memory_depth": 0, "memory_dropped": 0}
            assert births == 2 and historical >= 3 and len(ddata) == audit_lines(audit)

            got = stats_sub.wait_for(1, 30, where=lambda t, p: p.get("sparkplug") == expected)
            last = [p.get("sparkplug") for _, p in stats_sub.messages[-1:]]
            assert got, f"no stats message with {expected}; last: {last}"
            topic, payload = got[-1]
            validate_message(topic, payload)
            assert payload["version"] == 2

            m = scrape(f"http://127.0.0.1:{port}")
            series = {
                "edge_inspector_sparkplug_connected": 1.0, "edge_inspector_sparkplug_host_online": 1.0,
                "edge_inspector_sparkplug_births_total": births,
                "edge_inspector_sparkplug_published_total": len(ddata),
                "edge_inspector_sparkplug_acknowledged_total": len(ddata),
                "edge_inspector_sparkplug_historical_total": historical,
                "edge_inspector_sparkplug_outbox_depth": 0.0, "edge_inspector_sparkplug_inflight": 0.0,
                "edge_inspector_sparkplug_reconnects_total": 0.0, "edge_inspector_sparkplug_bad_messages_total": 1.0,
                "edge_inspector_sparkplug_bad_entries_total": 0.0, "edge_inspector_sparkplug_write_errors_total": 0.0,
                "edge_inspector_sparkplug_memory_depth": 0.0, "edge_inspector_sparkplug_memory_dropped_total": 0.0,
            }
            assert {name: m.get((name, ())) for name in series} == series
            code, _ = daemon.terminate(timeout=60)
            assert code == 0, daemon.output()[-3000:]
        finally:
            daemon.stop()
            host.stop()
    assert [e for e in host.errors if "/NCMD/" not in e] == [], "the node's messages decode (the garbage NCMD is ours)"
