"""Defect types through the front door: `train --kind defect-types --data LABELLED_DIR` on a tiny labelled
dataset (test/<type>/*.png, the layout the dashboard's reject gallery writes), `export`, then the real daemon
(`edge-inspector run`) with model.defect_types judges parts; every FAIL verdict that arrives over a real
Mosquitto (verdict and reject topics, checked against the schema) carries the defect type of the part, and no
PASS carries one. validate-config refuses a model.defect_types that is missing or not a type classifier."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cli_child import cli
from helpers.daemon_process import DaemonProcess, run_to_end, write_config
from helpers.defect_type_images import TYPES, type_image, write_labelled_dir
from helpers.tiny_model import make_model

pytestmark = pytest.mark.integration


def split_threshold(scores: list[float]) -> float:
    """A threshold between two neighbouring scores near the middle, at their widest gap: some parts FAIL and some
    PASS, none within reach of float noise."""
    s = sorted(scores)
    gaps = [(s[i + 1] - s[i], i) for i in range(len(s) // 4, 3 * len(s) // 4)]
    gap, i = max(gaps)
    assert gap > 1e-4, s
    return (s[i] + s[i + 1]) / 2


def test_fail_verdicts_carry_the_defect_type_and_passes_carry_none(
        tmp_path: Path, mosquitto_broker, mqtt_subscriber) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="training needs torch (pip install .[train])")
    pytest.importorskip("onnxruntime", reason="the classifier runs exported on onnxruntime (pip install .[onnx])")
    labels = write_labelled_dir(tmp_path / "labels", per_type=12, seed=0)
    types_model, types_engine = tmp_path / "types-model", tmp_path / "types-engine"
    out = cli("train", "--kind", "defect-types", "--data", str(labels), "--out", str(types_model), "--input-size",
              "32", "--width", "32", "--epochs", "30", "--patience", "30", "--device", "cpu").stdout
    assert "3 defect types" in out, out
    cli("export", "--model", str(types_model), "--out", str(types_engine))
    assert json.loads((types_engine / "metadata.json").read_text())["arch"]["classes"] == sorted(TYPES)

    # The line: parts each with one known defect type, judged by a tiny inspection model whose threshold is set
    # between its own scores, so some parts FAIL and some PASS, decided by the score alone.
    inspection_model = make_model(tmp_path, "scratch", 64)
    rng = np.random.default_rng(77)  # parts the classifier never saw
    line = tmp_path / "line"
    line.mkdir()
    truth: dict[str, str] = {}
    images: dict[str, np.ndarray] = {}
    for i in range(18):
        kind = TYPES[i % 3]
        name = f"{i:03d}_{kind}.png"
        images[name] = type_image(kind, rng)
        cv2.imwrite(str(line / name), images[name])  # PNG: the daemon reads back these very pixels
        truth[name] = kind
    from edge_inspector.backends import create_backend

    scorer = create_backend("torch", inspection_model, "cpu")
    scores = {n: scorer.infer([images[n]])[0].score for n in sorted(truth)}
    threshold = split_threshold(list(scores.values()))
    expected_fail = {n for n, s in scores.items() if s >= threshold}

    config = write_config(tmp_path / "line.yaml", model_dir=inspection_model, broker=mosquitto_broker,
                          station="types", source={"kind": "folder", "path": str(line)},
                          model={"defect_types": str(types_engine)},
                          inspection={"threshold": threshold, "require_region": False})
    check = cli("validate-config", str(config))
    assert "defect types dot, horizontal, vertical" in check.stdout, check.stdout
    verdict_sub = mqtt_subscriber(mosquitto_broker, "ei-rel/types/verdict")
    reject_sub = mqtt_subscriber(mosquitto_broker, "ei-rel/types/reject")
    log, messages = run_to_end(config, verdict_sub, 18, timeout=180)
    assert "defect types: defect-types-" in log and "onnxruntime" in log, log[-3000:]
    verdicts = {p["frame"]: p for _, p in messages}
    assert set(verdicts) == set(truth)
    failed = {n for n, v in verdicts.items() if v["verdict"] == "FAIL"}
    assert failed == expected_fail and 0 < len(failed) < 18
    assert all(verdicts[n]["verdict"] == "PASS" and "defect_type" not in verdicts[n] for n in set(truth) - failed)
    named = {n: verdicts[n]["defect_type"] for n in failed}
    assert all(d["name"] in TYPES and 0.0 <= d["confidence"] <= 1.0 for d in named.values()), named
    right = sum(named[n]["name"] == truth[n] for n in failed)
    assert right >= 0.8 * len(failed), (right, named)
    rejects = {p["frame"]: p for _, p in reject_sub.wait_for(len(failed), 20.0)}
    assert {n: r["defect_type"] for n, r in rejects.items()} == named  # the reject topic carries it too


def test_validate_config_refuses_a_missing_or_wrong_defect_types_dir(
        tmp_path: Path, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="the tiny models need torch")
    inspection_model = make_model(tmp_path, "scratch", 64)
    another = make_model(tmp_path / "other", "scratch", 64)
    for value, needle in ((tmp_path / "nowhere", "not found"), (another, "judges parts"),
                          (inspection_model, "must differ from model.path")):
        config = write_config(tmp_path / "c.yaml", model_dir=inspection_model, broker=mosquitto_broker,
                              source={"kind": "folder", "path": str(tmp_path)}, model={"defect_types": str(value)})
        done = cli("validate-config", str(config), ok=False)
        assert done.returncode == 2 and needle in done.stderr and "model.defect_types" in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if "validate-config: error:" in line]
        assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr


def test_the_daemon_refuses_a_type_classifier_as_its_inspection_model(
        tmp_path: Path, mosquitto_broker) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="training needs torch")
    labels = write_labelled_dir(tmp_path / "labels", per_type=2, seed=3)
    cli("train", "--kind", "defect-types", "--data", str(labels), "--out", str(tmp_path / "types"), "--input-size",
        "32", "--width", "32", "--epochs", "1", "--device", "cpu")
    (tmp_path / "line").mkdir()
    cv2.imwrite(str(tmp_path / "line" / "a.png"), type_image("dot", np.random.default_rng(0)))
    config = write_config(tmp_path / "line.yaml", model_dir=tmp_path / "types", broker=mosquitto_broker,
                          source={"kind": "folder", "path": str(tmp_path / "line")})
    daemon = DaemonProcess(config, env={"OMP_NUM_THREADS": "1"}).start()
    try:
        code = daemon.wait(timeout=120)
    finally:
        daemon.stop()
    log = daemon.output()
    assert code == 2, log[-3000:]
    assert "give it as model.defect_types" in log and "Traceback" not in log, log[-3000:]
