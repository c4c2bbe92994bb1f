"""The vae, dense-ae and conv-ae kinds through the front door: `edge-inspector train`, `evaluate` and `export` as
child processes on a tiny synthetic data set, then the real daemon (`edge-inspector run`) judges a line video with
the exported model on the ONNX Runtime backend and its verdicts, carrying the model's id, arrive over a real
Mosquitto. Each verdict's score is checked against the PyTorch checkpoint on the same frame."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import pytest
from contract_schemas import validate_message
from helpers.cli_child import cli
from helpers.daemon_process import run_to_end, write_config

from edge_inspector.publish.verdict_subscriber import VerdictSubscriber

pytestmark = pytest.mark.integration

CATEGORY = "brushed_metal"
SIZE = 64
FRAMES = 8
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cli(*args: str, timeout: float = 300) -> str:
    """Run `python -m edge_inspector.cli ARGS` as a child; its stdout (the test fails with its output's tail)."""
    return cli(*args, timeout=timeout, env=CHILD_ENV).stdout


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(MVTec-layout category dir, line video) of synthetic brushed-metal parts at 64 px."""
    pytest.importorskip("torch", reason="training needs torch (pip install .[train])")
    pytest.importorskip("onnxruntime", reason="the daemon runs the export on onnxruntime (pip install .[onnx])")
    from edge_inspector.synth import generate_dataset, render_line_video

    root = tmp_path_factory.mktemp("unsupervised")
    data = generate_dataset(root / "data", CATEGORY, n_train=24, n_test_good=2, n_test_defect_per_type=1,
                            size=SIZE, seed=0)
    video = root / "line.avi"
    render_line_video(video, CATEGORY, n_frames=FRAMES, defect_rate=0.5, size=SIZE, seed=5)
    return data.root, video


@pytest.mark.parametrize("kind", ["vae", "dense-ae", "conv-ae"])
def test_kind_trains_evaluates_exports_and_judges_in_the_daemon(
        kind: str, line: tuple[Path, Path], tmp_path: Path, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    from edge_inspector.backends import create_backend
    from edge_inspector.model.metadata import ModelMetadata

    data, video = line
    model_dir, engine = tmp_path / "model", tmp_path / "engine"
    out = _cli("train", "--kind", kind, "--data", str(data), "--out", str(model_dir), "--epochs", "2",
               "--input-size", str(SIZE), "--width", "32", "--batch-size", "8", "--precision", "fp32")
    assert f"trained {kind} model {kind}-" in out, out
    meta = ModelMetadata.load(model_dir)
    assert meta.kind == kind and math.isfinite(meta.image_threshold)

    _cli("evaluate", "--data", str(data), "--model", str(model_dir), "--backend", "torch", "--threads", "1",
         "--out", str(tmp_path / "eval"))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["model_kind"] == kind and report["model_id"] == meta.model_id
    assert (report["n_good"], report["n_defect"]) == (2, 5)  # 5 defect types, one image each
    assert 0.0 <= report["image_auroc"] <= 1.0 and 0.0 <= report["pixel_auroc"] <= 1.0, "a map: pixel metrics"

    _cli("export", "--model", str(model_dir), "--out", str(engine))
    exported = ModelMetadata.load(engine)
    assert exported.model_id == meta.model_id and exported.export["format"] == "onnx"

    station = f"unsup-{kind}"
    config = write_config(tmp_path / "config.yaml", model_dir=engine, broker=mosquitto_broker,
                          source={"kind": "video", "path": str(video)}, station=station,
                          model={"backend": "onnxruntime", "device": "cpu"})
    sub = VerdictSubscriber(mosquitto_broker.host, mosquitto_broker.port, f"ei-rel/{station}/verdict").start()
    try:
        log, messages = run_to_end(config, sub, FRAMES, wait=10.0)
    finally:
        sub.stop()
    assert f"({kind}) on onnxruntime:cpu:fp32" in log, log[-2000:]
    for topic, payload in messages:
        validate_message(topic, payload)
    verdicts = [p for _, p in messages]
    assert [v["seq"] for v in verdicts] == list(range(FRAMES))
    assert {v["model_id"] for v in verdicts} == {meta.model_id}
    assert {v["verdict"] for v in verdicts} <= {"PASS", "FAIL"}

    # The checkpoint scores the same frames alike: the exported graph and the daemon changed nothing.
    reference = create_backend("torch", model_dir, "cpu")
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(FRAMES)]
    capture.release()
    for frame, verdict in zip(frames, verdicts):
        assert verdict["score"] == pytest.approx(reference.infer([frame])[0].score, rel=1e-4, abs=1e-6)
