"""The classical kinds through the front door: `edge-inspector train --kind K` and `export` as child processes on a
small synthetic MVTec-like folder, then the real daemon (`edge-inspector run`, backend onnxruntime) with torch
and scikit-learn made unimportable judges a line video, and its verdicts arrive over a real Mosquitto with the
model id, scores equal to the checkpoint's and the image-level reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from contract_schemas import validate_message
from helpers.cli_child import cli
from helpers.daemon_process import run_to_end, write_config

from edge_inspector.publish.verdict_subscriber import VerdictSubscriber
from edge_inspector.synth import generate_dataset, render_line_video

pytestmark = pytest.mark.integration

SIZE = 64
FRAMES = 10
CATEGORY = "brushed_metal"
# Shadows the real packages in the daemon's process: any import of them fails as if they were not installed.
BLOCKED = ("torch", "torchvision", "sklearn")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, timeout=240, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classical-data")
    return generate_dataset(root, CATEGORY, n_train=30, n_test_good=0, n_test_defect_per_type=0, size=SIZE,
                            seed=0).root


def _blocker(folder: Path) -> Path:
    for name in BLOCKED:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}' (blocked: the runtime must not need it)\", "
            f"name={name!r})\n")
    return folder


@pytest.mark.parametrize("kind", ["ocsvm", "iforest", "lof"])
def test_trained_exported_and_judged_by_the_torch_free_daemon(kind: str, data_dir: Path, tmp_path: Path,
                                                              mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    from edge_inspector.backends import create_backend

    model_dir, engine = tmp_path / "model", tmp_path / "engine"
    trained = _cli("train", "--kind", kind, "--data", str(data_dir), "--out", str(model_dir),
                   "--input-size", str(SIZE))
    assert f"fitted {kind} model {kind}-" in trained.stdout and "fitted scikit-learn's" in trained.stderr
    _cli("export", "--model", str(model_dir), "--out", str(engine))
    meta = json.loads((engine / "metadata.json").read_text())
    assert meta["kind"] == kind and meta["export"]["format"] == "onnx"
    assert not (engine / "model.pt").exists()

    video = tmp_path / "line.avi"
    render_line_video(video, CATEGORY, n_frames=FRAMES, defect_rate=0.5, size=SIZE, seed=5)
    config = write_config(tmp_path / "config.yaml", model_dir=engine, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(video)}, station=f"classical-{kind}",
                          model={"backend": "onnxruntime", "device": "cpu"})
    blocked = _blocker(tmp_path / "blocked")
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                           env={"PYTHONPATH": str(blocked)})
    assert probe.returncode != 0 and "blocked: the runtime must not need it" in probe.stderr
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, f"ei-rel/classical-{kind}/verdict").start()
    try:
        log, messages = run_to_end(config, sub, FRAMES, env={"PYTHONPATH": str(blocked)}, wait=10.0)
    finally:
        sub.stop()
    assert "onnxruntime:cpu:fp32" in log, log[-3000:]
    for topic, payload in messages:
        validate_message(topic, payload)
    verdicts = [p for _, p in messages]
    assert [v["seq"] for v in verdicts] == list(range(FRAMES))
    assert {v["model_id"] for v in verdicts} == {meta["model_id"]}

    # The same frames through the PyTorch checkpoint here: the daemon's scores are the checkpoint's, and the
    # verdict is the score against the model's threshold alone (no map, no region).
    reference = create_backend("torch", model_dir, "cpu")
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(FRAMES)]
    capture.release()
    threshold = meta["image_threshold"]
    for frame, verdict in zip(frames, verdicts):
        expected = reference.infer([frame])[0].score
        assert verdict["score"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
        assert verdict["threshold"] == pytest.approx(threshold)
        assert verdict["verdict"] == ("FAIL" if verdict["score"] >= threshold else "PASS")
        assert verdict["boxes"] == []
        assert f"image-level model ({kind})" in verdict["reason"], verdict["reason"]
