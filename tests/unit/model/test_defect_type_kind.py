"""The defect-type classifier kind: probabilities of the right shape that sum to 1, class names checked, a
save/load round trip, an ONNX export that ONNX Runtime (DefectTyper, torch-free path) runs like PyTorch, the
inspection backends refusing it, and a tiny model that really learns synthetic types."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.defect_type_images import TYPES, type_image, write_labelled_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.backends import BackendError, create_backend
from edge_inspector.backends.defect_typer import DefectTyper
from edge_inspector.config.label_names import _NAME as LABEL_NAME
from edge_inspector.export.export_api import export_model
from edge_inspector.model.checkpoint import load_model, save_model
from edge_inspector.model.defect_type_names import check_class_names
from edge_inspector.model.defect_types import build_type_classifier
from edge_inspector.model.metadata import MetadataError, ModelMetadata
from edge_inspector.model.preprocess import preprocess
from edge_inspector.training.train_config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["crack", "scratch", "missing material"]
ARCH = {"backbone": "small", "width": 8, "encoder_layers": 3, "classes": CLASSES}


def tiny_type_model(root: Path, classes: list[str] | None = None) -> Path:
    torch.manual_seed(0)
    arch = {**ARCH, "classes": classes or CLASSES}
    model = build_type_classifier((32, 32), arch)
    meta = ModelMetadata(model_id="defect-types-unit", kind="defect-types", input_size=(32, 32), arch=arch,
                         mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    return save_model(model, meta, root / "types")


def test_eval_forward_gives_probabilities_per_class_that_sum_to_one() -> None:
    model = build_type_classifier((32, 32), ARCH).eval()
    with torch.no_grad():
        probs = model(torch.randn(5, 3, 32, 32) * 3)
    assert probs.shape == (5, 3)
    assert bool((probs >= 0).all()) and bool((probs <= 1).all())
    assert torch.allclose(probs.sum(dim=1), torch.ones(5), atol=1e-6)
    with torch.no_grad():
        x = torch.randn(2, 3, 32, 32)
        assert torch.allclose(model(x), torch.softmax(model.logits(x), dim=1), atol=1e-6)


@pytest.mark.parametrize("names, problem", [
    (["crack"], "2 to"), ([], "2 to"), ("crack,scratch", "list"), (["crack", "crack"], "twice"),
    (["crack", ""], "[1]"), (["crack", "x" * 65], "[1]"), (["crack", "a/b"], "[1]"), (["crack", "  "], "[1]"),
    (["crack", "bad\nname"], "[1]"), (["crack", 7], "[1]"), (["ok", "é"], "[1]"),
])
def test_class_names_are_refused_in_one_line_naming_the_entry(names: object, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        check_class_names(names, "arch.classes")
    assert problem in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 300


def test_too_many_class_names_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as err:
        check_class_names([f"type {i}" for i in range(100_000)], "arch.classes")
    assert "2 to 256" in str(err.value) and len(str(err.value)) < 200


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80), st.integers(), st.none(), st.binary(max_size=8)), max_size=8)
       | st.text(max_size=40) | st.none() | st.integers())
def test_fuzz_class_names_are_accepted_only_by_the_rule_or_refused_in_one_line(names: object) -> None:
    try:
        got = check_class_names(names, "arch.classes")
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert isinstance(names, list) and 2 <= len(got) == len(set(got))
    assert all(1 <= len(n) <= 64 and re.fullmatch(r"[A-Za-z0-9 _.-]+", n) for n in got)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.from_regex(LABEL_NAME, fullmatch=True), min_size=2, max_size=6, unique=True))
def test_every_name_the_dashboard_labels_with_is_a_valid_class_name(names: list[str]) -> None:
    # the dashboard's label route writes LABELS_DIR/test/<name>/ by config/label_names.py's rule; training
    # turns those folders into class names, so none of them may be refused here
    assert check_class_names(names) == names


def test_good_class_names_pass() -> None:
    names = ["crack", "Scratch-2", "missing material", "x" * 64, "a.b_c"]
    assert check_class_names(names) == names


def test_save_load_round_trip_keeps_weights_and_classes(tmp_path: Path) -> None:
    model_dir = tiny_type_model(tmp_path)
    model, meta = load_model(model_dir)
    assert meta.arch["classes"] == CLASSES and meta.kind == "defect-types"
    again = build_type_classifier((32, 32), ARCH)
    again.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again.eval()(x))


def test_onnx_export_and_the_torch_free_runtime_give_the_checkpoints_probabilities(tmp_path: Path) -> None:
    model_dir = tiny_type_model(tmp_path)
    result = export_model(model_dir, tmp_path / "engine")
    assert list(result.metadata.export["outputs"]) == ["probabilities"]
    assert result.metadata.export["outputs"]["probabilities"] == [1, 3]
    onnx_typer, torch_typer = DefectTyper(tmp_path / "engine"), DefectTyper(model_dir)
    assert onnx_typer.runtime.startswith("onnxruntime") and torch_typer.runtime.startswith("torch")
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8) for i in range(5)]
    got = onnx_typer.probabilities(frames)
    model, meta = load_model(model_dir)
    with torch.no_grad():
        ref = model(torch.from_numpy(preprocess(frames, meta))).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)
    np.testing.assert_allclose(torch_typer.probabilities(frames), ref, atol=1e-6)
    names = onnx_typer.classify(frames)
    assert [n for n, _ in names] == [CLASSES[int(i)] for i in ref.argmax(1)]
    assert [c for _, c in names] == pytest.approx(ref.max(1).tolist(), abs=1e-4)


def test_int8_export_is_refused_for_a_type_classifier(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fp32 only"):
        export_model(tiny_type_model(tmp_path), tmp_path / "engine", precision="int8", calib_data=tmp_path)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "auto"])
def test_inspection_backends_refuse_a_type_classifier_in_one_line(tmp_path: Path, backend: str) -> None:
    model_dir = tiny_type_model(tmp_path)
    with pytest.raises(BackendError) as err:
        create_backend(backend, model_dir, "cpu")
    assert "model.defect_types" in str(err.value) and str(model_dir) in str(err.value)
    assert "\n" not in str(err.value)


def test_defect_typer_refuses_an_inspection_model_in_one_line(tmp_path: Path) -> None:
    from helpers.tiny_model import make_model

    model_dir = make_model(tmp_path, "scratch", 64)
    with pytest.raises(BackendError) as err:
        DefectTyper(model_dir)
    assert "judges parts" in str(err.value) and "\n" not in str(err.value)


def test_defect_typer_refuses_bad_class_names_in_metadata(tmp_path: Path) -> None:
    model_dir = tiny_type_model(tmp_path)
    meta = ModelMetadata.load(model_dir)
    meta.arch["classes"] = ["crack", "crack", "dent"]
    meta.save(model_dir)
    with pytest.raises(BackendError, match="twice"):
        DefectTyper(model_dir)
    with pytest.raises(MetadataError):  # what the typer wraps: the names module's own one-line error
        from edge_inspector.model.defect_type_names import type_classifier_classes

        type_classifier_classes(model_dir)


def test_a_tiny_trained_model_names_held_out_synthetic_types(tmp_path: Path) -> None:
    from edge_inspector.training.defect_types_fit import train_defect_types

    data = write_labelled_dir(tmp_path / "labels", per_type=14, seed=1)
    cfg = TrainConfig(kind="defect-types", input_size=32, width=32, epochs=30, patience=30, batch_size=8,
                      device="cpu", seed=0)
    result = train_defect_types(data, tmp_path / "model", cfg, progress=False)
    assert result.metadata.arch["classes"] == sorted(TYPES)
    typer = DefectTyper(result.model_dir)
    rng = np.random.default_rng(1234)  # images the model never saw
    truth = [TYPES[i % 3] for i in range(30)]
    named = typer.classify([type_image(t, rng) for t in truth])
    correct = sum(name == t for (name, _), t in zip(named, truth))
    assert correct >= 24, f"{correct}/30 held-out synthetic defects named right: {named}"


def test_the_exported_classifier_runs_where_torch_cannot_be_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    engine = export_model(tiny_type_model(tmp_path), tmp_path / "engine").out_dir
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.') or name == 'torchvision':\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import numpy as np\n"
        "from edge_inspector.backends.defect_typer import DefectTyper\n"
        "from edge_inspector.service.defect_naming import DefectNaming\n"
        "from edge_inspector.service.stages import StageTimes\n"
        f"typer = DefectTyper({str(engine)!r})\n"
        "named = DefectNaming(typer, StageTimes()).name(np.zeros((50, 60, 3), np.uint8), 0)\n"
        "print(typer.runtime, named.name, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    runtime, name, torch_loaded = done.stdout.split()
    assert runtime.startswith("onnxruntime") and name in CLASSES and torch_loaded == "False"
