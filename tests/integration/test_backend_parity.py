"""Parity between backends on a trained model: every backend available here scores a synthetic test set
(good and defective parts) like the PyTorch checkpoint.

Tolerances: fp32 ONNX Runtime vs fp32 PyTorch is the same maths in another order: scores within 1e-4
relative, maps within 1e-3, identical verdicts. int8 is looser: identical verdicts on this test set, and
scores within 0.05 (the scratch model's scores are probabilities in [0, 1]), a FAIL's score within half its
margin above the threshold (export's own rule, checked here on parts it never saw). TensorRT and torch on
CUDA join when this machine has them (GPU tests, skipped here otherwise).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge_inspector.backends import BackendOptions, create_backend
from edge_inspector.evaluation.backend_parity import compare_backends
from edge_inspector.synth import generate_dataset
from edge_inspector.training.data import image_files, read_bgr

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exports(trained_model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:  # type: ignore[no-untyped-def]
    """fp32 and int8 exports of the test model; "int8" holds export's refusal message when it refused."""
    from edge_inspector.export import ExportError
    from edge_inspector.export.export_api import export_model

    model_dir, category, _ = trained_model
    root = tmp_path_factory.mktemp("parity")
    good = model_dir.parent / "data" / category
    out: dict[str, Path | str] = {"fp32": export_model(model_dir, root / "fp32", dynamic_batch=True).out_dir}
    try:
        out["int8"] = export_model(model_dir, root / "int8", precision="int8", calib_data=good, calib_count=48).out_dir
    except ExportError as exc:
        out["int8"] = str(exc)
    return out


@pytest.fixture(scope="module")
def test_set(trained_model, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    _, category, size = trained_model
    data = generate_dataset(tmp_path_factory.mktemp("parity-data"), category, n_train=4, n_test_good=12,
                            n_test_defect_per_type=3, size=size, seed=11)
    return Path(data.root)


def test_fp32_onnxruntime_gives_the_checkpoints_verdicts(trained_model, exports: dict[str, Path | str],
                                                          test_set: Path) -> None:  # type: ignore[no-untyped-def]
    files = image_files(test_set / "test")
    images = [read_bgr(f) for f in files]
    one = BackendOptions(threads=1)
    backends = [create_backend("torch", trained_model[0], "cpu", one),
                create_backend("onnxruntime", Path(exports["fp32"]), "cpu", one)]
    [fp32] = compare_backends(backends, images, [str(f) for f in files])
    print(fp32.line())
    assert fp32.images == len(files) == 27
    assert fp32.max_score_rel_diff <= 1e-4 and fp32.max_map_abs_diff <= 1e-3
    assert fp32.verdict_flips == []


def test_int8_is_written_only_where_it_keeps_the_checkpoints_verdicts(
        trained_model, exports: dict[str, Path | str], test_set: Path) -> None:  # type: ignore[no-untyped-def]
    """Whether int8 holds depends on the trained weights (thread counts change them): export either refuses
    with every level's measured excess, or writes a graph that must hold on parts it never saw."""
    if isinstance(exports["int8"], str):
        print(exports["int8"])
        assert "int8 refused: every quantisation level moves some score beyond its allowance" in exports["int8"]
        assert all(f"{level} " in exports["int8"] for level in ("most", "backbone+seg", "backbone"))
        return
    files = image_files(test_set / "test")
    images = [read_bgr(f) for f in files]
    one = BackendOptions(threads=1)
    backends = [create_backend("torch", trained_model[0], "cpu", one),
                create_backend("onnxruntime", Path(exports["int8"]), "cpu", one)]
    [int8] = compare_backends(backends, images, [str(f) for f in files])
    print(int8.line())
    assert int8.verdict_flips == [], int8.line()
    thr = backends[0].metadata.image_threshold
    for image, name in zip(images, files):
        ref, got = backends[0].infer([image])[0].score, backends[1].infer([image])[0].score
        budget = max(0.05, 0.5 * (ref - thr))
        assert abs(ref - got) <= budget, f"{name}: checkpoint {ref:.4f}, int8 {got:.4f}, threshold {thr:.4f}"
    # export chose its level on held-out good images, within 2% of the threshold, and said so
    info = backends[1].metadata.export
    print(info["quantization"]["level"], info["parity"]["levels_tried"], info["parity"]["allowed_score_diff"])
    assert info["parity"]["held_out_images"] == 16 and info["quantization"]["calibration_images"] == 32
    assert info["parity"]["frames"] == 32  # 16 held-out good parts, and each with a simulated defect
    chosen = [use for name, use in info["parity"]["levels_tried"] if name == info["quantization"]["level"]]
    assert chosen and chosen[0] <= 1.0


def test_parity_verb_reports_and_gates_on_flips(trained_model, exports: dict[str, Path | str],
                                                test_set: Path) -> None:  # type: ignore[no-untyped-def]
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "parity", "--run", f"torch={trained_model[0]}",
                          "--run", f"onnxruntime={exports['fp32']}", "--data", str(test_set), "--threads", "1",
                          "--limit", "10", "--fail-on-flip"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "reference: torch:cpu:fp32" in res.stdout
    assert "onnxruntime:cpu:fp32: score diff max" in res.stdout and "0 verdict flips over 10 images" in res.stdout
    bad = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "parity", "--run", "torch",
                          "--data", str(test_set)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected BACKEND=MODEL_DIR" in bad.stderr


# torch on CUDA against the CPU checkpoint. fp32: cuDNN may run fp32 convolutions in TF32 (torch's default
# for cuDNN), a 10-bit mantissa, so scores within 1e-3 relative and maps within 1e-2 instead of ONNX's 1e-4 /
# 1e-3. fp16 (the CUDA `auto` default): scores within 0.03 absolute (the scratch model's scores are in [0, 1];
# the allowance the CUDA path documents for reduced precision) and the same verdicts. Both skip with the
# reason where no GPU is lent.
@pytest.mark.gpu
@pytest.mark.parametrize(("precision", "score_rel", "score_abs", "map_abs"),
                         [("fp32", 1e-3, 1e-3, 1e-2), ("fp16", None, 0.03, None)])
def test_torch_cuda_gives_the_checkpoints_verdicts(trained_model, test_set: Path, precision: str,  # type: ignore[no-untyped-def]
                                                   score_rel: float | None, score_abs: float,
                                                   map_abs: float | None) -> None:
    files = image_files(test_set / "test")
    images = [read_bgr(f) for f in files]
    backends = [create_backend("torch", trained_model[0], "cpu", BackendOptions(threads=1)),
                create_backend("torch", trained_model[0], "cuda", BackendOptions(precision=precision))]
    [cuda] = compare_backends(backends, images, [str(f) for f in files])
    print(cuda.line())
    assert cuda.images == len(files) == 27
    assert cuda.verdict_flips == [], cuda.line()
    assert cuda.max_score_abs_diff <= score_abs, cuda.line()
    if score_rel is not None:
        assert cuda.max_score_rel_diff <= score_rel, cuda.line()
    if map_abs is not None:
        assert cuda.max_map_abs_diff <= map_abs, cuda.line()
