"""TensorRT engine building and loading: the build tag, the refusals and the calibration images run anywhere;
the engine itself needs TensorRT + pycuda + a GPU (marked gpu, skipped where TensorRT is absent)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.backends import BackendError, BackendOptions
from edge_inspector.backends.engine_tag import (
    ENGINE_FILE,
    TAG_FILE,
    TAG_KEYS,
    RuntimeInfo,
    check_tag,
    device_index,
    fast_precision,
    load_tensorrt,
    make_tag,
    read_tag,
    write_tag,
)
from edge_inspector.backends.tensorrt_backend import TensorRTBackend
from edge_inspector.cli.build_engine import cmd_build_engine
from edge_inspector.export import ExportError
from edge_inspector.export.tensorrt_build import build_engine, calibration_batches, calibration_files
from edge_inspector.model.image_file import ImageFileError
from edge_inspector.model.metadata import ModelMetadata

ORIN = RuntimeInfo("10.3.0.30", "Orin", "8.7")
TRT_SKIP = ("TensorRT libraries not installed (only the bindings wheel is on the index); "
            "the TensorRT path has not run here")


def meta(size: int = 32) -> ModelMetadata:
    return ModelMetadata(model_id="trt-test", kind="scratch", input_size=(size, size),
                         arch={"encoder_layers": 2, "width": 32})


@pytest.fixture
def no_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import tensorrt` fail even where it is installed (None in sys.modules blocks the import)."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def test_same_tensorrt_and_gpu_is_accepted() -> None:
    tag = make_tag(ORIN, "fp16", 8, "ab" * 32)
    assert set(tag) == set(TAG_KEYS)
    assert tag["compute_capability"] == "8.7" and tag["max_batch"] == 8
    assert check_tag(tag, ORIN, "engines/part") is None
    assert check_tag(tag, ORIN, "engines/part", onnx_sha256="ab" * 32) is None


@pytest.mark.parametrize("here, engine_says, here_says", [
    (RuntimeInfo("10.7.0.23", "Orin", "8.7"), "TensorRT 10.3.0.30 (engine)", "10.7.0.23 (here)"),
    (RuntimeInfo("10.3.0.30", "NVIDIA H200", "9.0"), "GPU Orin sm 8.7 (engine)", "NVIDIA H200 sm 9.0 (here)"),
    (RuntimeInfo("10.3.0.30", "Orin", "8.6"), "GPU Orin sm 8.7 (engine)", "Orin sm 8.6 (here)"),
])
def test_other_tensorrt_or_gpu_is_refused_in_one_line(here: RuntimeInfo, engine_says: str, here_says: str) -> None:
    tag = make_tag(ORIN, "int8", 4, "ab" * 32)
    message = check_tag(tag, here, "engines/part")
    assert message is not None and "\n" not in message
    assert engine_says in message and here_says in message
    assert "engines/part/model.engine" in message
    assert "`edge-inspector build-engine --model engines/part --precision int8`" in message


def test_engine_from_another_onnx_is_refused() -> None:
    message = check_tag(make_tag(ORIN, "fp16", 1, "ab" * 32), ORIN, "m", onnx_sha256="cd" * 32)
    assert message is not None and "model.onnx sha256 abababababab (engine) vs cdcdcdcdcdcd" in message


def test_tag_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = write_tag(tmp_path / TAG_FILE, make_tag(ORIN, "fp16", 8, "ab" * 32, host="jetson-7"))
    assert read_tag(path, tmp_path)["host"] == "jetson-7"
    data = json.loads(path.read_text())
    del data["gpu_name"]
    path.write_text(json.dumps(data))
    with pytest.raises(BackendError, match=r"engine.json: missing key 'gpu_name'; rebuild it with `edge-inspector"):
        read_tag(path, tmp_path)
    with pytest.raises(BackendError, match="engine.json: not found"):
        read_tag(tmp_path / "nowhere" / TAG_FILE, tmp_path)


@pytest.mark.parametrize("precision, cc, fast", [
    ("fp16", "8.7", True), ("int8", "8.7", True), ("fp16", "6.1", False), ("int8", "6.1", True),
    ("fp16", "5.3", True), ("int8", "5.3", False), ("int8", "6.2", False), ("fp32", "5.0", True),
])
def test_fast_precision_by_compute_capability(precision: str, cc: str, fast: bool) -> None:
    assert fast_precision(precision, cc) is fast


def test_device_index() -> None:
    assert [device_index(d) for d in ("auto", "cuda", "cuda:1")] == [0, 0, 1]
    with pytest.raises(BackendError, match="needs a CUDA GPU"):
        device_index("cpu")


@pytest.mark.usefixtures("no_tensorrt")
def test_missing_tensorrt_is_one_line_with_how_to_get_it() -> None:
    with pytest.raises(BackendError) as info:
        load_tensorrt()
    message = str(info.value)
    assert "\n" not in message and message.startswith("TensorRT is not installed here (import tensorrt failed")
    assert "pip install edge-inspector[trt]" in message and "JetPack" in message


def build_args(model: Path, **kw: object) -> argparse.Namespace:
    base = {"model": model, "precision": "fp16", "calib_data": None, "calib_count": 500, "max_batch": 8,
            "workspace_mb": 2048, "timing_cache": None, "out": None, "parity_data": None, "parity_count": 64,
            "parity_tolerance": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.usefixtures("no_tensorrt")
def test_build_engine_verb_without_tensorrt_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    assert cmd_build_engine(build_args(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("edge-inspector build-engine: error: TensorRT is not installed here")
    assert "pip install edge-inspector[trt]" in err


def test_build_engine_verb_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_build_engine(build_args(tmp_path)) == 2
    assert f"{tmp_path / 'model.onnx'}: not found" in capsys.readouterr().err
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    assert cmd_build_engine(build_args(tmp_path, precision="int8")) == 2
    assert "--precision int8 needs --calib-data" in capsys.readouterr().err


@pytest.mark.parametrize(("kw", "message"), [
    ({"parity_tolerance": -0.01}, "--parity-tolerance: expected 0..1"),
    ({"parity_tolerance": 1.5}, "--parity-tolerance: expected 0..1"),
    ({"parity_tolerance": float("nan")}, "--parity-tolerance: expected 0..1"),
    ({"parity_count": 0}, "--parity-count"),
])
def test_build_engine_verb_refuses_bad_parity_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       kw: dict[str, object], message: str) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    assert cmd_build_engine(build_args(tmp_path, **kw)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and len(err) < 300


def test_build_engine_parser_takes_the_parity_options(tmp_path: Path) -> None:
    from edge_inspector.cli.main import build_parser

    args = build_parser().parse_args(["build-engine", "--model", str(tmp_path), "--parity-data", str(tmp_path),
                                      "--parity-count", "12", "--parity-tolerance", "0.05"])
    assert (args.parity_data, args.parity_count, args.parity_tolerance) == (tmp_path, 12, 0.05)
    defaults = build_parser().parse_args(["build-engine", "--model", str(tmp_path)])
    assert defaults.precision == "fp16" and defaults.parity_data is None and defaults.parity_tolerance is None


def test_build_engine_refusals_before_tensorrt(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="model.onnx: not found"):
        build_engine(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not the exported graph")
    m = meta()
    m.export = {"onnx_sha256": "0" * 64}
    m.save(tmp_path)
    with pytest.raises(ExportError, match="sha256 .* differs from metadata.json export.onnx_sha256"):
        build_engine(tmp_path)
    with pytest.raises(ExportError, match="precision 'bf16'"):
        build_engine(tmp_path, precision="bf16")


def test_backend_refuses_missing_engine_and_tag(tmp_path: Path) -> None:
    meta().save(tmp_path)
    with pytest.raises(BackendError) as info:
        TensorRTBackend(tmp_path)
    assert str(info.value) == (f"{tmp_path / ENGINE_FILE}: not found; build it on this machine with "
                               f"`edge-inspector build-engine --model {tmp_path} --precision fp16`")
    (tmp_path / ENGINE_FILE).write_bytes(b"plan")
    with pytest.raises(BackendError, match=r"engine.json: not found .*build-engine --model"):
        TensorRTBackend(tmp_path)


@pytest.mark.usefixtures("no_tensorrt")
def test_backend_without_tensorrt_says_how_to_install(tmp_path: Path) -> None:
    meta().save(tmp_path)
    (tmp_path / ENGINE_FILE).write_bytes(b"plan")
    write_tag(tmp_path / TAG_FILE, make_tag(ORIN, "fp16", 8, "ab" * 32))
    with pytest.raises(BackendError, match=r"TensorRT is not installed here .*pip install edge-inspector\[trt\]"):
        TensorRTBackend(tmp_path)
    with pytest.raises(BackendError, match="the engine is fp16, model.precision asks for int8"):
        TensorRTBackend(tmp_path, options=BackendOptions(precision="int8"))


def test_calibration_batches_from_a_folder_of_pngs(tmp_path: Path) -> None:
    for i in range(7):
        image = np.zeros((48, 40, 3), np.uint8)
        image[..., 0] = 200  # blue in OpenCV's BGR order
        image[..., 1] = i
        cv2.imwrite(str(tmp_path / f"good_{i:02d}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    files = calibration_files(tmp_path, limit=6)
    assert [f.name for f in files] == [f"good_{i:02d}.png" for i in range(6)]
    batches = list(calibration_batches(files, meta(32), batch=4))
    assert len(batches) == 1  # 6 images in batches of 4: the 2 left over are not a full batch
    assert batches[0].shape == (4, 32, 32, 3) and batches[0].dtype == np.uint8
    assert batches[0].flags.c_contiguous
    assert (batches[0][..., 2] == 200).all() and (batches[0][..., 0] == 0).all()  # RGB, as the graph expects
    assert [int(b[0, 0, 1]) for b in batches[0]] == [0, 1, 2, 3]


def test_calibration_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="calibration image folder not found"):
        calibration_files(tmp_path / "missing", 10)
    with pytest.raises(ExportError, match="no images"):
        calibration_files(tmp_path, 10)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match="broken.png: not a readable image"):  # model/image_file.py's rule
        list(calibration_batches(calibration_files(tmp_path, 10), meta(), batch=1))


@pytest.mark.gpu
def test_fp16_engine_scores_like_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason=TRT_SKIP)
    pytest.importorskip("pycuda.driver", reason=TRT_SKIP)
    pytest.importorskip("torch", reason="the tiny model is built and exported with torch")
    ort = pytest.importorskip("onnxruntime")
    from edge_inspector.export.onnx_export import export_onnx
    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.networks import build_model
    from edge_inspector.model.preprocess import to_input_images

    m = meta(64)
    save_model(build_model(m.kind, m.input_size, m.arch).eval(), m, tmp_path / "trained")
    out = tmp_path / "exported"
    export_onnx(tmp_path / "trained", out, dynamic_batch=True, max_batch=4)
    engine = build_engine(out, "fp16", max_batch=4)
    tag = json.loads((out / TAG_FILE).read_text())
    assert engine.stat().st_size > 0 and tag["precision"] == "fp16" and tag["max_batch"] == 4
    assert (out / "timing.cache").stat().st_size > 0

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (72, 80, 3), dtype=np.uint8) for _ in range(6)]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    want_maps, want_scores = session.run(["anomaly_map", "score"], {"image": to_input_images(frames, m)})
    backend = TensorRTBackend(out, "cuda", None)
    try:
        assert backend.max_batch == 4  # 6 frames: one batch of 4, one of 2
        got = backend.infer(frames)
    finally:
        backend.close()
    np.testing.assert_allclose([g.score for g in got], want_scores, rtol=2e-2, atol=1e-3)
    assert got[0].map.shape == (72, 80) and got[0].map.dtype == np.float32
    assert np.abs(want_maps[:, 0]).max() > 0

    stale = {**tag, "tensorrt_version": "9.0.0"}
    write_tag(out / TAG_FILE, stale)
    with pytest.raises(BackendError, match="TensorRT 9.0.0 \\(engine\\)"):
        TensorRTBackend(out, "cuda", None)


@pytest.mark.gpu
def test_an_fp16_engine_that_flips_a_verdict_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """Issue 18 item 4: build-engine checks fp16 against the fp32 graph and refuses a verdict flip. The threshold
    is set between a check frame's ONNX Runtime (fp32) and TensorRT fp16 scores."""
    pytest.importorskip("tensorrt", reason=TRT_SKIP)
    pytest.importorskip("pycuda.driver", reason=TRT_SKIP)
    pytest.importorskip("torch", reason="the tiny model is built and exported with torch")
    pytest.importorskip("onnxruntime")
    from edge_inspector.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge_inspector.backends.precision_parity import check_frames
    from edge_inspector.export.onnx_export import export_onnx
    from edge_inspector.model.checkpoint import save_model
    from edge_inspector.model.networks import build_model

    m = meta(64)
    m.kind = "pixel"
    save_model(build_model(m.kind, m.input_size, m.arch).eval(), m, tmp_path / "trained")
    out = tmp_path / "exported"
    export_onnx(tmp_path / "trained", out, dynamic_batch=True, max_batch=2)
    built = build_engine(out, "fp16", max_batch=2, out=tmp_path / "probe")  # the model's own threshold
    frames = check_frames(m)
    fp16 = TensorRTBackend(built.parent, "cuda", None)
    fp32 = OnnxRuntimeBackend(out, "cpu", BackendOptions(max_batch=1))
    want = [fp32.infer([f])[0].score for f in frames]
    got = [fp16.infer([f])[0].score for f in frames]
    fp16.close()
    i = int(np.argmax(np.abs(np.subtract(want, got))))
    if want[i] == got[i]:
        pytest.skip("fp16 reproduced every fp32 score exactly: no threshold can flip")
    exported = ModelMetadata.load(out)
    exported.image_threshold = (want[i] + got[i]) / 2
    exported.save(out)
    with pytest.raises(ExportError, match="fp16 engine refused, nothing written: .* verdict flips"):
        build_engine(out, "fp16", max_batch=2, out=tmp_path / "refused")
    assert not (tmp_path / "refused" / ENGINE_FILE).exists() and not (tmp_path / "refused" / TAG_FILE).exists()
    assert not (tmp_path / "refused" / ".precision-check").exists()
