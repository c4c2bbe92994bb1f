"""The supervised kinds' networks (model/classifiers.py): shapes, the map against an autograd Grad-CAM, transfer
learning's frozen stages, the checkpoint round trip and the ONNX export scored by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the networks need torch (pip install .[train])")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edge_inspector.model.checkpoint import load_model, save_model  # noqa: E402
from edge_inspector.model.metadata import ModelMetadata  # noqa: E402
from edge_inspector.model.networks import build_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

SIZE = 64
KINDS = {"classifier": {"encoder_layers": 2}, "small-cnn": {"width": 32}}


def _model(kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(kind, (SIZE, SIZE), KINDS[kind])
    # Random BatchNorm statistics and a defect-leaning bias, so the reference below has something to match.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        model.head.weight.normal_(0.0, 1.0 / model.head.in_features ** 0.5)
        model.head.bias.fill_(-0.3)
    return model.eval()


def grad_cam(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM the textbook way, with autograd: the defect logit's gradients with respect to the last feature map,
    averaged over space, weight the feature channels; ReLU of the weighted sum. [B, 1, h, w]."""
    feat = model.features(x).detach().requires_grad_(True)
    logit = model.head(feat.mean(dim=(2, 3))).squeeze(1)
    (grads,) = torch.autograd.grad(logit.sum(), feat)
    alpha = grads.mean(dim=(2, 3), keepdim=True)
    return torch.relu((alpha * feat).sum(dim=1, keepdim=True)).detach()


@pytest.mark.parametrize("kind", list(KINDS))
def test_outputs_have_the_shapes_every_kind_has(kind: str) -> None:
    model = _model(kind)
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        amap, score = model(x)
        logits = model.logits(x)
    assert amap.shape == (3, 1, SIZE, SIZE) and score.shape == (3,)
    assert logits.shape == (3,)
    assert torch.all((score >= 0) & (score <= 1)) and torch.all((amap >= 0) & (amap <= 1))
    # The exported score is the training head's probability: GAP + Linear == mean of the 1x1-conv CAM + bias.
    assert torch.allclose(score, torch.sigmoid(logits), atol=1e-6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_map_is_grad_cam_computed_with_autograd(kind: str) -> None:
    model = _model(kind, seed=4)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(100))
    x[:, :, :, : SIZE // 2] += 2.0  # some structure, so the map varies over the image
    x[1, :, : SIZE // 2] -= 3.0
    reference = grad_cam(model, x)
    h, w = reference.shape[-2:]
    assert float(reference.max()) > 0 and float((reference == 0).float().mean()) > 0  # ReLU did something
    bias = float(model.head.bias.detach())
    with torch.no_grad():
        low = model.cam_logits(x)
        amap, _ = model(x)
    # At feature resolution the head's map, less its bias and through a ReLU, is h*w times Grad-CAM...
    assert torch.allclose(torch.relu(low - bias), reference * (h * w), atol=1e-5), \
        float((torch.relu(low - bias) - reference * h * w).abs().max())
    # ...and where Grad-CAM is positive the map is sigmoid(bias + h*w * Grad-CAM); elsewhere it stays at or below
    # sigmoid(bias) (the negative evidence Grad-CAM's ReLU drops).
    positive = reference > 0
    expected = torch.sigmoid(bias + reference * (h * w))
    assert torch.allclose(torch.sigmoid(low)[positive], expected[positive], atol=1e-6)
    assert torch.all(torch.sigmoid(low)[~positive] <= torch.sigmoid(torch.tensor(bias)) + 1e-6)
    # The full-size map is that map upsampled bilinearly, then squashed.
    up = torch.nn.functional.interpolate(low, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    assert torch.allclose(amap, torch.sigmoid(up), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 20.0), bias=st.floats(-8.0, 8.0))
def test_a_failing_part_always_has_a_pixel_over_its_score(seed: int, scale: float, bias: float) -> None:
    """max(map) >= score for any input and head: the pixel threshold, never above the image threshold, boxes a
    region on every failing part."""
    model = _model("small-cnn", seed % 7)
    with torch.no_grad():
        model.head.bias.fill_(bias)
        amap, score = model(torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * scale)
    assert torch.all(amap.flatten(1).amax(dim=1) >= score - 1e-6)


@pytest.mark.parametrize("trainable, grads", [("all", {"stem", "stages.0", "stages.1", "head"}),
                                              ("layer4", {"stages.1", "head"}), ("head", {"head"})])
def test_transfer_learning_trains_only_the_chosen_layers(trainable: str, grads: set[str]) -> None:
    model = build_model("classifier", (SIZE, SIZE), {"encoder_layers": 2, "trainable": trainable})
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    got = {g for g in ("stem", "stages.0", "stages.1", "head") if any(n.startswith((g, "encoder." + g)) for n in names)}
    assert got == grads
    model.train()
    frozen_bn = [m for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
                 and not any(n.startswith("encoder." + g) for g in grads)]
    assert all(not m.training for m in frozen_bn)  # frozen stages keep their statistics
    assert model.arch == {"encoder_layers": 2, "trainable": trainable}
    with pytest.raises(ValueError, match="trainable: expected one of all, layer4, head, got 'most'"):
        build_model("classifier", (SIZE, SIZE), {"trainable": "most"})


@pytest.mark.parametrize("kind", list(KINDS))
def test_save_and_load_give_the_same_network(kind: str, tmp_path: Path) -> None:
    model = _model(kind)
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(SIZE, SIZE), arch=model.arch)
    save_model(model, meta, tmp_path / "m")
    loaded, meta2 = load_model(tmp_path / "m")
    assert meta2.arch == model.arch
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnx_export_scores_like_the_checkpoint(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="parity needs onnxruntime (pip install .[onnx])")
    from edge_inspector.backends import BackendOptions, create_backend
    from edge_inspector.export.checkpoint_parity import parity_frames
    from edge_inspector.export.onnx_checks import TRT_FRIENDLY_OPS
    from edge_inspector.export.onnx_export import export_onnx

    model = _model(kind)
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(SIZE, SIZE), arch=model.arch,
                         image_threshold=0.55, pixel_threshold=0.5)
    model_dir = save_model(model, meta, tmp_path / "m")
    result = export_onnx(model_dir, tmp_path / "engine")
    assert set(result.checks["ops"]) <= TRT_FRIENDLY_OPS and "Gemm" not in result.checks["ops"]
    ort = create_backend("onnxruntime", result.out_dir, "cpu", BackendOptions(threads=1))
    ref = create_backend("torch", model_dir, "cpu")
    frames = parity_frames(ort.metadata, n=4, seed=1)
    for a, b in zip(ort.infer(frames), ref.infer(frames)):
        assert abs(a.score - b.score) <= 1e-4
        assert float(np.abs(a.map - b.map).max()) <= 1e-4
