"""Tiled native-resolution scoring from config through calibrate and the daemon: a line video larger than the
model's input is judged tile by tile (model.tiling), with a profile calibrated with --tiles; a profile
calibrated single-pass is refused for tiled scoring (its scores are another scale)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validate_message
from helpers.daemon_process import wait_for, write_config
from helpers.profile import calibrate

from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration
TILING = {"enabled": True, "overlap": 16, "working_size": 0}


def test_the_daemon_scores_large_frames_tile_by_tile(tmp_path: Path, trained_model: Any, mosquitto_broker: Any,
                                                     mqtt_subscriber: Any) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=6, defect_rate=0.5, size=size * 2 + 16, seed=5)
    data = model_dir.parent / "data" / category
    profile = calibrate(model_dir, data, tmp_path / "cal", "--policy", "fixed", "--threshold", "0.6",
                        "--pixel-threshold", "0.55", "--min-area", "4", "--tiles", "--overlap", "16")
    assert "tiles16@native:max" in profile.read_text()
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker, station="tiled",
                          source={"kind": "video", "path": str(video)}, inspection={"profile": str(profile)},
                          model={"tiling": TILING})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/tiled/verdict")
    daemon = Daemon(load_config(config))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert wait_for(lambda: len(sub.messages) >= 6, 10.0)
    frame_side = size * 2 + 16
    for topic, v in sub.messages:
        validate_message(topic, v)
        assert v["verdict"] in ("PASS", "FAIL") and v["threshold"] == 0.6, v
        assert all(b["x"] + b["w"] <= frame_side and b["y"] + b["h"] <= frame_side for b in v["boxes"])
    assert daemon.summary.scorer_errors == 0

    single = calibrate(model_dir, data, tmp_path / "cal-single", "--policy", "fixed", "--threshold", "0.6",
                       "--pixel-threshold", "0.55", "--min-area", "4")
    config = write_config(tmp_path / "config2.yaml", model_dir=model_dir, broker=mosquitto_broker, station="tiled",
                          source={"kind": "video", "path": str(video)}, inspection={"profile": str(single)},
                          model={"tiling": TILING})
    with pytest.raises(Exception, match="was calibrated for model"):
        Daemon(load_config(config)).run()
