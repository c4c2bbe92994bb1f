"""Bad input and scorer faults never stop the line: every part gets a verdict, FAULT when it cannot be judged.

Real files (folders, truncated and empty videos), a real MJPEG camera over HTTP that dies and comes back,
and the real trained model wrapped so that chosen calls return NaN, raise, or run past the deadline.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import write_config
from helpers.mjpeg_server import MjpegServer

from edge_inspector.backends import Backend, create_backend
from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video, render_sample
from edge_inspector.types import AnomalyMap

pytestmark = pytest.mark.integration


def config(tmp_path: Path, model_dir: Path, broker: Any, station: str, source: dict[str, Any],
           **sections: dict[str, Any]) -> Path:
    mqtt = {"topic_prefix": "ei-in", "stats_interval": 1.0, **sections.pop("mqtt", {})}
    return write_config(tmp_path / f"{station}.yaml", model_dir=model_dir, broker=broker, station=station,
                        source=source, mqtt=mqtt, **sections)


def verdicts(messages: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    for topic, payload in messages:
        validate_message(topic, payload)
    return [p for t, p in messages if t.endswith("/verdict")]


def test_bad_files_in_an_image_folder_are_faulted_or_converted(
    tmp_path: Path,
    trained_model,
    mosquitto_broker,
    mqtt_subscriber,
) -> None:
    model_dir, category, size = trained_model
    folder = tmp_path / "parts"
    folder.mkdir()
    rng = np.random.default_rng(3)
    good = [render_sample(category, rng, size=size).image for _ in range(3)]
    cv2.imwrite(str(folder / "01_good.png"), good[0])
    (folder / "02_empty.png").write_bytes(b"")
    (folder / "03_text.png").write_text("not an image at all")
    cv2.imwrite(str(folder / "04_sixteen_bit.png"), good[1].astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "05_grey.png"), cv2.cvtColor(good[2], cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "06_good.png"), good[0])
    sub = mqtt_subscriber(mosquitto_broker, "ei-in/folder/#")
    cfg = load_config(config(tmp_path, model_dir, mosquitto_broker, "folder", {"kind": "folder", "path": str(folder)}))
    summary = Daemon(cfg).run()
    got = verdicts(sub.wait_for(6, 10, where=lambda t, p: t.endswith("/verdict")))
    assert [v["frame"] for v in got] == sorted(p.name for p in folder.iterdir())
    by_name = {v["frame"]: v for v in got}
    assert by_name["02_empty.png"]["verdict"] == "FAULT" and by_name["03_text.png"]["verdict"] == "FAULT"
    assert "cannot decode" in by_name["02_empty.png"]["reason"]
    for name in ("01_good.png", "04_sixteen_bit.png", "05_grey.png", "06_good.png"):
        assert by_name[name]["verdict"] in ("PASS", "FAIL") and by_name[name]["score"] is not None, name
    # 16-bit x257 >> 8 gives back the 8-bit image exactly: the converted frame scores like the original
    assert by_name["04_sixteen_bit.png"]["score"] == pytest.approx(
        create_backend("torch", model_dir, "cpu").infer([good[1]])[0].score, rel=1e-5)
    assert (summary.frames, summary.unreadable, summary.capture_error) == (6, 2, None)


def test_truncated_video_is_judged_up_to_the_cut_and_an_empty_file_is_a_one_line_error(
    tmp_path: Path,
    trained_model,
    mosquitto_broker,
) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "full.avi"
    render_line_video(video, category, n_frames=20, size=size, seed=4)
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    cfg = load_config(config(tmp_path, model_dir, mosquitto_broker, "cut", {"kind": "video", "path": str(cut)}))
    summary = Daemon(cfg).run()
    # The header still announces 20 frames: the ones that decode are judged, the ones cut off are parts the
    # file says exist, so they are FAULT (undecodable), and the daemon ends normally at the end of the file.
    assert summary.capture_error is None and summary.passed + summary.failed >= 5
    assert summary.faults == summary.unreadable == summary.frames - summary.passed - summary.failed
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    bad = config(tmp_path, model_dir, mosquitto_broker, "empty", {"kind": "video", "path": str(empty)})
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "run", "--config", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and str(empty) in lines[0] and "Traceback" not in res.stderr


def test_live_stream_that_dies_and_returns_gives_no_phantom_verdicts(
    tmp_path: Path,
    trained_model,
    mosquitto_broker,
    mqtt_subscriber,
) -> None:
    model_dir, _, size = trained_model
    camera = MjpegServer(fps=10, size=size).start()
    source = {"kind": "url", "url": camera.url, "stall_seconds": 1.5, "read_timeout_ms": 1000,
              "open_timeout_ms": 1000, "reconnect_seconds": 0.5, "queue_size": 8}
    cfg = load_config(config(tmp_path, model_dir, mosquitto_broker, "live", source))
    sub = mqtt_subscriber(mosquitto_broker, "ei-in/live/#")
    daemon = Daemon(cfg)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        assert sub.wait_for(10, 30, where=lambda t, p: t.endswith("/verdict")), "frames flow"
        camera.kill()
        stalled = sub.wait_for(1, 15, where=lambda t, p: t.endswith("/status")
                               and p.get("capture", {}).get("state") in ("stalled", "reconnecting"))
        assert stalled, "the camera outage is on the status topic"
        time.sleep(3)
        n_during = len([1 for t, _ in sub.messages if t.endswith("/verdict")])
        camera.start()
        assert sub.wait_for(n_during + 10, 30, where=lambda t, p: t.endswith("/verdict")), "capture resumes"
        assert sub.wait_for(1, 10, where=lambda t, p: t.endswith("/status")
                            and p.get("capture", {}).get("state") == "running"
                            and p["ts"] > stalled[0][1]["ts"])
    finally:
        daemon.stop()
        runner.join(timeout=30)
        camera.kill()
    got = verdicts(sub.messages)
    assert [v["seq"] for v in got] == list(range(len(got))), "no gap, no duplicate"
    assert not [v for v in got if v["verdict"] == "FAULT"], "a dead stream is not a reject"
    stats = [p for t, p in sub.messages if t.endswith("/stats")]
    assert any(p["capture"]["read_failures"] > 0 or p["capture"]["reconnects"] > 0 for p in stats)


class FaultyBackend(Backend):
    """The real model, except that chosen calls (1-based) return NaN, raise, or take `slow_s` seconds."""

    def __init__(self, inner: Backend, plan: dict[int, str], slow_s: float) -> None:
        self.inner, self.plan, self.slow_s = inner, plan, slow_s
        self.metadata = inner.metadata
        self.name = "faulty-" + inner.name
        self.calls = 0
        self.armed = False

    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        result = self.inner.infer(images)
        if not self.armed:  # warm-up calls
            return result
        self.calls += 1
        fault = self.plan.get(self.calls)
        if fault == "nan":
            return [AnomalyMap(result[0].map, float("nan"))]
        if fault == "nan-map":
            bad = result[0].map.copy()
            bad[0, 0] = np.inf
            return [AnomalyMap(bad, result[0].score)]
        if fault == "raise":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if fault == "slow":
            time.sleep(self.slow_s)
        return result

    def warmup(self, n: int = 3) -> None:
        super().warmup(n)
        self.armed = True


def test_scorer_faults_become_fault_verdicts_and_the_next_frame_is_judged_normally(
    tmp_path: Path,
    trained_model,
    mosquitto_broker,
) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=12, defect_rate=0.0, size=size, seed=21)
    source = {"kind": "video", "path": str(video), "pacing": "realtime", "fps": 2.0}
    path = config(tmp_path, model_dir, mosquitto_broker, "scorer", source, inspection={"deadline_ms": 1000.0})
    reference = Daemon(load_config(path), backend=FaultyBackend(create_backend("torch", model_dir, "cpu"), {}, 0))
    seen_ref: list[Any] = []
    reference._on_inspection = seen_ref.append
    reference.run()
    plan = {3: "nan", 5: "raise", 7: "slow", 9: "nan-map"}
    faulty = FaultyBackend(create_backend("torch", model_dir, "cpu"), plan, slow_s=1.3)
    seen: list[Any] = []
    summary = Daemon(load_config(path), backend=faulty, on_inspection=seen.append).run()
    assert summary.frames == 12 and summary.capture_error is None
    for i, (ref, got) in enumerate(zip(seen_ref, seen), start=1):
        if i in plan:
            assert got.verdict.value == "FAULT" and got.score is None or plan[i] == "slow", (i, got)
            continue
        assert got.verdict == ref.verdict, f"frame {i} judged as without faults"
    reasons = {i: seen[i - 1].reason for i in plan}
    assert "non-finite score" in reasons[3] and "illegal memory access" in reasons[5]
    assert "deadline missed" in reasons[7] and seen[6].verdict.value == "FAULT"
    assert "non-finite" in reasons[9]
    assert any(s.verdict.value == "PASS" for s in seen[9:]), "good parts pass again after the faults"
    assert summary.scorer_errors == 3 and summary.deadline_missed == 1
