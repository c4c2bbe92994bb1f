"""ONNX export, the ONNX Runtime backend and `backend: auto`: tiny real models on CPU, real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs torch (pip install .[train])")
onnx = pytest.importorskip("onnx", reason="export needs onnx (pip install .[train])")
pytest.importorskip("onnxruntime", reason="export checks with onnxruntime (pip install .[onnx])")

from helpers.tiny_model import make_model  # noqa: E402

from edge_inspector.backends import BACKEND_NAMES, BackendError, BackendOptions, create_backend  # noqa: E402
from edge_inspector.backends.selection import select_backend  # noqa: E402
from edge_inspector.export import ExportError  # noqa: E402
from edge_inspector.export.checkpoint_parity import parity_frames  # noqa: E402
from edge_inspector.export.onnx_checks import TRT_FRIENDLY_OPS, check_onnx  # noqa: E402
from edge_inspector.export.onnx_export import export_onnx, file_sha256  # noqa: E402
from edge_inspector.model.checkpoint import load_model  # noqa: E402
from edge_inspector.model.metadata import ModelMetadata  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def exported(scratch_dir: Path) -> Path:
    return export_onnx(scratch_dir, scratch_dir.parent / "engine").out_dir


def test_export_writes_a_checked_graph_and_carries_the_metadata(scratch_dir: Path, exported: Path) -> None:
    source = ModelMetadata.load(scratch_dir)
    meta = ModelMetadata.load(exported)
    for key in ("model_id", "kind", "input_size", "mean", "std", "image_threshold", "pixel_threshold",
                "score_stats", "arch"):
        assert getattr(meta, key) == getattr(source, key), key
    info = meta.export
    assert info["format"] == "onnx" and info["precision"] == "fp32" and info["batch"] == 1
    assert info["input"] == {"name": "image", "dtype": "uint8", "layout": "NHWC", "color": "RGB",
                             "shape": [1, 64, 64, 3]}
    assert info["outputs"] == {"anomaly_map": [1, 1, 64, 64], "score": [1]}
    assert info["onnx_sha256"] == file_sha256(exported / "model.onnx")
    assert info["source_sha256"] == file_sha256(scratch_dir / "model.pt")
    assert info["opset"] >= 17 and set(info["ops"]) <= TRT_FRIENDLY_OPS
    assert info["parity"]["max_score_rel_diff"] <= 1e-4 and info["parity"]["max_map_abs_diff"] <= 1e-3
    graph = onnx.load(str(exported / "model.onnx"))
    onnx.checker.check_model(graph, full_check=True)
    [inp] = graph.graph.input
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert not (exported / "model.pt").exists()  # the engine dir is torch-free


@pytest.mark.parametrize("kind", ["scratch", "pixel", "feature"])
def test_onnxruntime_scores_like_the_checkpoint(kind: str, tmp_path: Path) -> None:
    model_dir = make_model(tmp_path, kind)
    out = export_onnx(model_dir, tmp_path / "engine", dynamic_batch=True, max_batch=4).out_dir
    ort_backend = create_backend("onnxruntime", out, "cpu", BackendOptions(threads=1, max_batch=4))
    torch_backend = create_backend("torch", model_dir, "cpu")
    assert ort_backend.name == "onnxruntime:cpu:fp32" and torch_backend.name == "torch:cpu:fp32"
    frames = parity_frames(ort_backend.metadata, n=5, seed=3)  # 6 frames: batches of 4 and 2, mixed sizes
    got, ref = ort_backend.infer(frames), torch_backend.infer(frames)
    assert len(got) == len(frames)
    for frame, a, b in zip(frames, got, ref):
        assert a.map.shape == frame.shape[:2] == b.map.shape
        assert a.score == pytest.approx(b.score, rel=1e-4, abs=1e-6)
        assert float(np.abs(a.map - b.map).max()) <= 1e-3


def test_export_refusals_are_one_line(scratch_dir: Path, exported: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="exists .use --force"):
        export_onnx(scratch_dir, exported)
    with pytest.raises(ExportError, match="must differ from the model directory"):
        export_onnx(scratch_dir, scratch_dir)
    with pytest.raises(ExportError, match="no model.pt"):
        export_onnx(tmp_path, tmp_path / "out")
    with pytest.raises(ExportError, match="opset 17"):
        export_onnx(scratch_dir, tmp_path / "out", opset=17)


def test_graph_check_refuses_ops_tensorrt_would_not_parse(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("score", TensorProto.INT64, [2, None])
    graph = helper.make_graph([helper.make_node("NonZero", ["image"], ["score"])], "g", [x], [y])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(ExportError, match="ops TensorRT may not parse: NonZero"):
        check_onnx(path, input_name="image", input_shape=[1, 4], output_names=("score",))


def test_onnxruntime_backend_refusals(scratch_dir: Path, exported: Path) -> None:
    with pytest.raises(BackendError, match="model.onnx: not found"):
        create_backend("onnxruntime", scratch_dir, "cpu")
    with pytest.raises(BackendError, match="exported as fp32, config asks for int8"):
        create_backend("onnxruntime", exported, "cpu", BackendOptions(precision="int8"))
    with pytest.raises(BackendError, match="precision 'fp16' needs CUDA"):
        create_backend("torch", scratch_dir, "cpu", BackendOptions(precision="fp16"))
    with pytest.raises(BackendError, match="not available .known: auto, torch, onnxruntime, tensorrt"):
        create_backend("tensorflow", exported)


def test_auto_prefers_onnxruntime_on_a_cpu_and_says_why(scratch_dir: Path, exported: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    assert [(c.name, c.device) for c in select_backend(scratch_dir, "cpu")] == [("torch", "cpu")]
    assert [(c.name, c.device) for c in select_backend(exported, "cpu")] == [("onnxruntime", "cpu")]
    caplog.set_level("INFO")
    backend = create_backend("auto", exported, "auto")
    assert backend.name.startswith("onnxruntime:")
    assert "backend auto -> onnxruntime" in caplog.text
    (tmp_path / "model.engine").write_bytes(b"not an engine")
    with pytest.raises(BackendError, match=r"no backend can score this model here \(no model.pt; no model.onnx"):
        select_backend(tmp_path, "auto")


def test_config_accepts_exactly_the_backends_that_exist() -> None:
    from typing import get_args, get_type_hints

    from edge_inspector.config.models import ModelConfig

    assert set(get_args(get_type_hints(ModelConfig)["backend"])) == set(BACKEND_NAMES)
    assert set(BACKEND_NAMES) == {"auto", "torch", "onnxruntime", "tensorrt"}


def test_checkpoints_with_the_old_2d_blur_kernel_still_load(scratch_dir: Path, tmp_path: Path) -> None:
    state = torch.load(scratch_dir / "model.pt", weights_only=True)
    state["smooth.kernel"] = torch.ones(1, 1, 7, 7)  # what checkpoints before the separable blur carried
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "model.pt")
    (old / "metadata.json").write_text((scratch_dir / "metadata.json").read_text())
    model, _ = load_model(old)
    reference, _ = load_model(scratch_dir)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[1], reference(x)[1])


def test_int8_export_records_its_parity(scratch_dir: Path, tmp_path: Path) -> None:
    import cv2

    from edge_inspector.export.export_api import export_model
    from edge_inspector.synth import render_sample

    rng = np.random.default_rng(0)
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), render_sample("brushed_metal", rng, size=80).image)
    result = export_model(scratch_dir, tmp_path / "int8", precision="int8", calib_data=tmp_path)
    meta = json.loads((tmp_path / "int8" / "metadata.json").read_text())
    assert meta["model_id"] == "scratch-unit-int8" and meta["export"]["precision"] == "int8"
    assert meta["export"]["quantization"]["calibration_images"] == 10
    parity = meta["export"]["parity"]
    assert parity["frames"] == 20 and "decision_flips" in parity  # 10 good images (< 12: all) + 10 defective
    assert parity["allowed_score_diff"] == pytest.approx(0.03 * 0.4321)
    assert [name for name, _ in parity["levels_tried"]][0] == "most"  # the fastest level is tried first
    assert not (tmp_path / "int8" / ".fp32-export").exists()
    ops = {n.op_type for n in onnx.load(str(result.onnx_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    backend = create_backend("onnxruntime", result.out_dir, "cpu", BackendOptions(threads=1))
    assert backend.name == "onnxruntime:cpu:int8"
    assert np.isfinite(backend.infer([np.zeros((64, 64, 3), np.uint8)])[0].score)
    with pytest.raises(ExportError, match="needs --calib-data"):
        export_model(scratch_dir, tmp_path / "x", precision="int8")
    # Fail closed: with every score below the threshold and no tolerance, no level can hold, nothing is written
    strict = tmp_path / "strict"
    shutil.copytree(scratch_dir, strict)
    meta_json = json.loads((strict / "metadata.json").read_text())
    (strict / "metadata.json").write_text(json.dumps({**meta_json, "image_threshold": 0.999}))
    with pytest.raises(ExportError, match=r"int8 refused: every quantisation level .*most \d"):
        export_model(strict, tmp_path / "refused", precision="int8", calib_data=tmp_path, int8_tolerance=0.0)
    assert not (tmp_path / "refused" / "model.onnx").exists()
