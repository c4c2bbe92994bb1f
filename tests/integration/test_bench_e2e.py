"""`edge-inspector bench --backend null --e2e` end to end: the real CLI, the real daemon, a private Mosquitto
and a real subscriber. Checks the report's shape and its consistency, never its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.ci import skip_unless_ci

from edge_inspector.publish.broker import find_mosquitto

pytestmark = pytest.mark.integration

FRAMES, FASTEST = 12, 6


def stats_ok(stats: dict[str, float], n: int) -> None:
    assert stats["n"] == n
    assert 0.0 <= stats["p50"] <= stats["p99"] <= stats["max"]


def test_null_backend_e2e_bench_reports_every_verdict_and_the_stages(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        skip_unless_ci("mosquitto binary not found (apt-get install -y mosquitto); CI installs it")
    out = tmp_path / "bench.jsonl"
    cmd = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING", "bench", "--backend", "null",
           "--e2e", "--frames", str(FRAMES), "--max-frames", str(FASTEST), "--fps", "20", "--batch", "2",
           "--warmup", "1", "--frame-size", "320x256", "--input-size", "32", "--defect-every", "3",
           "--workdir", str(tmp_path / "work"), "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "capture -> verdict at the subscriber" in res.stdout and "machine:" in res.stdout, res.stdout

    (line,) = out.read_text().splitlines()
    result = json.loads(line)
    assert result["backend"] == "null:cpu" and result["frame_size"] == [320, 256]
    assert result["machine"]["cores"] and result["machine"]["opencv"] and result["precision"]
    stats_ok(result["scorer_ms"], FRAMES)
    assert result["batch"] == 2 and result["batch_calls"] == FRAMES // 2

    e2e = result["e2e"]
    assert e2e["mosquitto"] and "mosquitto" in e2e["mosquitto"]
    paced = e2e["paced"]
    assert paced["frames"] == paced["verdicts"] == paced["received"] == FRAMES, "every verdict reached the PLC"
    assert paced["received_in_order"]
    assert paced["pass"] + paced["fail"] + paced["fault"] == FRAMES
    assert paced["fail"] == (FRAMES - paced["dropped"]) // 3 and paced["fault"] == paced["dropped"]
    stats_ok(paced["e2e_ms"], FRAMES)
    stats_ok(paced["decision_ms"], FRAMES)
    stages = paced["stages"]
    for stage in ("infer", "postprocess", "spool", "audit", "inspect_total", "infer.preprocess", "infer.map_back"):
        assert stages[stage]["n"] >= FRAMES - paced["dropped"], stage
    for stage in ("annotate", "evidence"):  # the FAIL frames only, on the image worker
        assert stages[stage]["n"] == paced["fail"], stage
    assert paced["evidence_files"] == 2 * paced["fail"], "annotated and raw PNG per FAIL"
    assert paced["sink_errors"] == {} and paced["sink_drops"] == {}
    assert paced["mqtt"]["acknowledged"] == FRAMES and paced["mqtt"]["depth"] == 0

    fastest = e2e["fastest"]
    assert fastest["verdicts"] == fastest["received"] == FASTEST and fastest["dropped"] == 0
    assert fastest["throughput_fps"] > 0


def test_e2e_bench_with_the_dashboard_in_use_reports_a_third_run(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        skip_unless_ci("mosquitto binary not found (apt-get install -y mosquitto); CI installs it")
    out = tmp_path / "bench.jsonl"
    cmd = [sys.executable, "-m", "edge_inspector.cli", "--log-level", "WARNING", "bench", "--backend", "null",
           "--e2e", "--dashboard", "--frames", str(FRAMES), "--max-frames", "0", "--fps", "5", "--batch", "1",
           "--warmup", "1", "--frame-size", "320x256", "--input-size", "32", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "same run with the dashboard in use" in res.stdout, res.stdout
    board = json.loads(out.read_text())["e2e"]["paced_dashboard"]
    assert board["frames"] == board["verdicts"] == board["received"] == FRAMES and board["received_in_order"]
    requests = board["dashboard_requests"]
    assert requests["sent"] >= 4 and requests["failed"] == 0, requests  # 12 frames at 5 fps: two polls at least
