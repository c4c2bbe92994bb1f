"""The torch-free runtime: `pip install edge-inspector[onnx]` in a virtualenv without torch runs the daemon on
an exported model, and its verdicts match the PyTorch checkpoint's frame by frame.

The virtualenv is built once in .venv-runtime (rebuilt when setup.py changes) with pip from the package
index, exactly as a line device installs it; torch must not be importable there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from contract_schemas import validate_message
from helpers.ci import skip_unless_ci
from helpers.daemon_process import DaemonProcess, write_config

from edge_inspector.config import InspectionConfig
from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-runtime"


def _venv_python() -> Path:
    """A virtualenv with edge-inspector[onnx] and no torch; built or reused (stamp = hash of setup.py)."""
    stamp = hashlib.sha256((REPO / "setup.py").read_bytes() + (REPO / "constraints.txt").read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    stamp_file = VENV / ".edge-inspector-stamp"
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    steps = ([sys.executable, "-m", "venv", str(VENV)],
             [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"), "-e",
              f"{REPO}[onnx]"])
    for cmd in steps:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if res.returncode != 0:
            skip_unless_ci(f"cannot build the torch-free virtualenv ({' '.join(cmd[:4])}): "
                           f"{(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    stamp_file.write_text(stamp)
    return python


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    return _venv_python()


def test_daemon_runs_an_exported_model_in_a_virtualenv_without_torch(
        tmp_path: Path, trained_model, mosquitto_broker, runtime_python: Path) -> None:  # type: ignore[no-untyped-def]
    from edge_inspector.backends import create_backend
    from edge_inspector.export.onnx_export import export_onnx
    from edge_inspector.postprocess import postprocess

    no_torch = subprocess.run([str(runtime_python), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    model_dir, category, size = trained_model
    engine = export_onnx(model_dir, tmp_path / "engine").out_dir
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=24, defect_rate=0.5, size=size, seed=5)
    config = write_config(tmp_path / "config.yaml", model_dir=engine, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(video)}, station="notorch",
                          model={"backend": "auto", "device": "auto"})
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, "ei-rel/notorch/verdict").start()
    try:
        daemon = DaemonProcess(config, python=runtime_python,
                               env={"PYTHONPATH": "", "OMP_NUM_THREADS": "1"}).start()
        code = daemon.wait(timeout=180)
        messages = sub.wait_for(24, timeout=10.0)
    finally:
        sub.stop()
    log = daemon.output()
    assert code == 0, log[-2000:]
    assert "backend auto -> onnxruntime:cpu:fp32" in log, log[-2000:]
    for topic, payload in messages:
        validate_message(topic, payload)
    verdicts = [p for _, p in messages]
    assert [v["seq"] for v in verdicts] == list(range(24))

    # The same frames through the PyTorch checkpoint here: the same verdict and score for every part.
    reference = create_backend("torch", model_dir, "cpu")
    meta = reference.metadata
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(24)]
    capture.release()
    for frame, verdict in zip(frames, verdicts):
        amap = reference.infer([frame])[0]
        expected, _, _ = postprocess(amap.map, amap.score, threshold=meta.image_threshold,
                                     pixel_threshold=meta.pixel_threshold, cfg=InspectionConfig(min_defect_area=4))
        assert verdict["score"] == pytest.approx(amap.score, rel=1e-4, abs=1e-6)
        assert verdict["verdict"] == expected.value
    assert {v["verdict"] for v in verdicts} == {"PASS", "FAIL"}, "the video has good and defective parts"
    assert os.path.exists(VENV / "bin" / "edge-inspector")
