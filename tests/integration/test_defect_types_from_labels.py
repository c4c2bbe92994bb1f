"""Defect types from the line's own rejects, end to end through the front doors: the real daemon (`edge-inspector
run` with the dashboard, a real Mosquitto) rejects parts; a technician labels four of them in Chromium on the
Rejects page (two "crack", two "scratch"); `edge-inspector train --kind defect-types --data LABELS_DIR` trains a
type classifier from exactly what they labelled; the daemon restarted with `model.defect_types` publishes FAIL
verdicts whose `defect_type` names one of the technician's types, and PASS verdicts without one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.daemon_process import DaemonProcess, wait_for, write_config
from helpers.dashboard import Http, start_dashboard_process
from helpers.profile import FIXED, calibrate

pytestmark = [pytest.mark.integration, pytest.mark.browser]
TYPES = ("crack", "crack", "scratch", "scratch")


def fails_with_frames(http: Http, n: int) -> list[int]:
    found: list[int] = []

    def look() -> bool:
        fails = [r["seq"] for r in http.get("/api/rejects?limit=100").json()["rejects"] if r["verdict"] == "FAIL"]
        found[:] = [s for s in fails if http.get(f"/api/rejects/{s}/raw.png").status == 200][:n]
        return len(found) == n

    assert wait_for(look, 240.0), f"{n} FAILs with their raw frames, got {found}"
    return found


def label_in_browser(page: Any, http: Http, seq: int, defect_type: str) -> None:
    page.goto(http.base + f"/rejects#{seq}")
    page.wait_for_selector("#detail", state="visible", timeout=30000)
    page.wait_for_function("document.querySelectorAll('#label-type option').length >= 3", timeout=30000)
    page.select_option("#label-type", defect_type)
    page.click("#label-submit")
    page.wait_for_function("document.querySelector('#label-result').classList.contains('ok')", timeout=30000)
    assert page.inner_text("#label-result").startswith(f"saved: {defect_type} → test/{defect_type}/")
    page.click("#detail-close")


def test_a_technicians_labels_become_the_defect_type_of_later_fail_verdicts(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any,
        page: Any) -> None:
    model_dir, category, _ = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    labels = tmp_path / "labels"
    daemon, http = start_dashboard_process(tmp_path / "line", trained_model, mosquitto_broker, "types", profile,
                                           fps=2.0, dashboard={"labels_dir": str(labels),
                                                               "defect_types": ["crack", "scratch"]})
    try:
        seqs = fails_with_frames(http, len(TYPES))
        page.goto(http.base + "/rejects")
        page.fill("#token", http.token)
        page.fill("#label-author", "ana")
        page.dispatch_event("#label-author", "change")
        for seq, defect_type in zip(seqs, TYPES):
            label_in_browser(page, http, seq, defect_type)
    finally:
        daemon.stop()
    assert sorted(p.parent.name for p in labels.glob("test/*/*.png")) == sorted(TYPES)

    types_model = tmp_path / "types-model"
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "train", "--kind", "defect-types", "--data",
                           str(labels), "--out", str(types_model), "--input-size", "32", "--width", "16",
                           "--epochs", "5", "--device", "cpu"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert json.loads((types_model / "metadata.json").read_text())["arch"]["classes"] == ["crack", "scratch"]

    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/types2/verdict")  # checks each against the schema
    config = write_config(tmp_path / "run2.yaml", model_dir=model_dir, broker=mosquitto_broker, station="types2",
                          source={"kind": "video", "path": str(tmp_path / "line" / "line.avi"), "pacing": "fastest"},
                          inspection={"profile": str(profile)},
                          model={"defect_types": str(types_model)})
    run = DaemonProcess(config).start()
    assert run.wait(timeout=300) == 0, run.output()
    verdicts = [p for _, p in sub.wait_for(16, 30.0)]
    fails = [v for v in verdicts if v["verdict"] == "FAIL"]
    assert fails and len(verdicts) == 16, [v["verdict"] for v in verdicts]
    assert all(v["defect_type"]["name"] in ("crack", "scratch") and 0 < v["defect_type"]["confidence"] <= 1
               for v in fails), fails
    assert not [v for v in verdicts if v["verdict"] != "FAIL" and v.get("defect_type")]
