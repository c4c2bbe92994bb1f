"""What the dashboard's Inspect page shows for each family of model kinds, through the real daemon (`edge-inspector
run` with the dashboard, a real Mosquitto): an autoencoder's heatmap, a classifier's class activation map captioned
Grad-CAM, and, for an image-level kind (ocsvm), no heatmap but a note that it has no map, with the verdict's
reason saying the same. The models are trained by `edge-inspector train` on a small synthetic category."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest
from helpers.daemon_process import DaemonProcess, wait_for, write_config
from helpers.dashboard import Http

from edge_inspector.publish.broker import free_port
from edge_inspector.synth import generate_dataset, render_line_video

pytestmark = pytest.mark.integration
SIZE = 64


def train(kind: str, data: Path, out: Path, *extra: str) -> Path:
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "train", "--kind", kind, "--data", str(data),
                           "--out", str(out), "--input-size", str(SIZE), "--epochs", "2", "--device", "cpu", *extra],
                          capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1",
                                                                             "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out


@pytest.fixture(scope="module")
def category(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinds-data")
    data = generate_dataset(root, "brushed_metal", n_train=24, n_test_good=4, n_test_defect_per_type=3, size=SIZE,
                            seed=3).root
    split = root / "dev.txt"  # the supervised kind trains on these defective images only
    split.write_text("\n".join(str(p.relative_to(data)) for p in sorted(data.glob("test/*/*.png"))
                               if p.parent.name != "good") + "\n")
    return data


@pytest.mark.parametrize(("kind", "map_name"), [("conv-ae", "anomaly heatmap"), ("small-cnn", "Grad-CAM"),
                                                ("ocsvm", None)])
def test_the_inspect_page_shows_each_kinds_map_or_says_it_has_none(
        kind: str, map_name: str | None, category: Path, tmp_path: Path, mosquitto_broker: Any) -> None:
    extra = ("--split", str(category.parent / "dev.txt")) if kind == "small-cnn" else ()
    model = train(kind, category, tmp_path / "model", *extra)
    video = tmp_path / "line.avi"
    render_line_video(video, "brushed_metal", n_frames=8, defect_rate=0.5, size=SIZE, seed=4)
    token = secrets.token_hex(16)
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    port = free_port()
    config = write_config(tmp_path / "c.yaml", model_dir=model, broker=mosquitto_broker, station=f"k-{kind}",
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": "realtime",
                                  "fps": 2.0},
                          dashboard={"enabled": True, "port": port, "token_file": str(tmp_path / "token")})
    daemon = DaemonProcess(config).start()
    http = Http(f"http://127.0.0.1:{port}", token)
    try:
        assert wait_for(lambda: not daemon.alive() or _up(http), 120.0) and daemon.alive(), daemon.output()
        frame = cv2.imread(str(sorted(category.glob("test/*/*.png"))[0]))
        answer = http.upload("/api/inspect", "part.png", cv2.imencode(".png", frame)[1].tobytes())
        assert answer.status == 200, answer.body
        judged = answer.json()
    finally:
        daemon.stop()
    assert judged["map_name"] == map_name
    images = judged["images"]
    assert images["original"].startswith("data:image/jpeg;base64,")
    if map_name is None:  # image-level: nothing drawn, and said so
        assert images["heatmap"] is None and images["annotated"] is None and judged["boxes"] == []
        assert judged["note"] == "image-level model (ocsvm): it scores the whole image and has no map to show or box"
        assert judged["reason"].endswith("image-level model (ocsvm): no map to locate the defect")
    else:
        assert images["heatmap"].startswith("data:image/jpeg;base64,") and images["annotated"]


def _up(http: Http) -> bool:
    try:
        return http.get("/api/state").status == 200
    except OSError:
        return False
