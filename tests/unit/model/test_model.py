"""Networks, preprocessing, metadata and checkpoints: tiny configurations on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need torch (pip install .[train])")

from edge_inspector.backends import BackendError, create_backend  # noqa: E402
from edge_inspector.model.backbone import (  # noqa: E402
    BackboneWeightsMissing,
    load_backbone_weights,
    pretrained_weights_available,
)
from edge_inspector.model.checkpoint import load_model, save_model  # noqa: E402
from edge_inspector.model.metadata import MetadataError, ModelMetadata  # noqa: E402
from edge_inspector.model.networks import ResNet50Encoder, build_model  # noqa: E402
from edge_inspector.model.preprocess import map_to_frame, preprocess  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread


def meta_for(kind: str, size: int = 64, roi: tuple[int, int, int, int] | None = None) -> ModelMetadata:
    return ModelMetadata(model_id=f"{kind}-test", kind=kind, input_size=(size, size),
                         arch={"encoder_layers": 2, "width": 32}, roi=roi)


@pytest.mark.parametrize("kind", ["scratch", "pixel", "feature"])
def test_scoring_graph_shapes(kind: str) -> None:
    model = build_model(kind, (64, 64), {"encoder_layers": 2, "width": 32}).eval()
    with torch.no_grad():
        amap, score = model(torch.randn(2, 3, 64, 64))
    assert amap.shape == (2, 1, 64, 64)
    assert score.shape == (2,)
    assert torch.allclose(score, amap.flatten(1).amax(1))


def test_encoder_is_resnet50_stages() -> None:
    feats = ResNet50Encoder(3)(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [256, 512, 1024]
    assert [f.shape[-1] for f in feats] == [16, 8, 4]


def test_preprocess_and_roi_mapping() -> None:
    meta = meta_for("scratch", roi=(10, 20, 40, 30))
    frame = np.zeros((100, 120, 3), np.uint8)
    x = preprocess([frame], meta)
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    back = map_to_frame(np.ones((64, 64), np.float32), frame.shape, meta)
    assert back.shape == (100, 120)
    assert back[20:50, 10:50].min() == 1.0
    assert back.sum() == pytest.approx(40 * 30)


def test_metadata_round_trip_and_errors(tmp_path: Path) -> None:
    meta = meta_for("pixel")
    meta.image_threshold = 0.42
    meta.save(tmp_path)
    loaded = ModelMetadata.load(tmp_path)
    assert loaded == meta
    data = json.loads((tmp_path / "metadata.json").read_text())
    del data["input_size"]
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(MetadataError, match="metadata.json: missing key 'input_size'"):
        ModelMetadata.load(tmp_path)
    with pytest.raises(MetadataError, match="not found"):
        ModelMetadata.load(tmp_path / "nowhere")


def test_checkpoint_round_trip_scores_identically(tmp_path: Path) -> None:
    meta = meta_for("scratch")
    model = build_model("scratch", (64, 64), meta.arch).eval()
    save_model(model, meta, tmp_path)
    restored, _ = load_model(tmp_path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[0], restored(x)[0])
    backend = create_backend("torch", tmp_path, "cpu")
    frames = [np.random.default_rng(0).integers(0, 255, (80, 96, 3), dtype=np.uint8)]
    out = backend.infer(frames)[0]
    assert out.map.shape == (80, 96) and out.map.dtype == np.float32
    assert np.isfinite(out.score)


def test_backend_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="backend 'tensorflow' is not available"):
        create_backend("tensorflow", tmp_path)
    with pytest.raises(BackendError, match=str(tmp_path)):
        create_backend("torch", tmp_path, "cpu")


def test_backbone_weights_missing_explains_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    encoder = ResNet50Encoder(2)
    assert not pretrained_weights_available()
    with pytest.raises(BackboneWeightsMissing, match="--model scratch") as info:
        load_backbone_weights(encoder)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "model.backbone_weights" in message
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1, 1, 1, 1)}, bad)
    with pytest.raises(ValueError, match="bad.pth: conv1.weight has shape"):
        load_backbone_weights(encoder, bad)


def test_backbone_weights_load_from_a_torchvision_style_file(tmp_path: Path) -> None:
    from torchvision.models import resnet50

    path = tmp_path / "resnet50.pth"
    reference = resnet50(weights=None)
    torch.save(reference.state_dict(), path)
    encoder = ResNet50Encoder(3)
    assert load_backbone_weights(encoder, path) == path
    assert torch.equal(encoder.stages[0][0].conv1.weight, reference.layer1[0].conv1.weight)


def test_runtime_modules_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import edge_inspector.model.metadata, edge_inspector.model.preprocess, "
            "edge_inspector.backends.base, edge_inspector.backends.registry, edge_inspector.backends; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_metadata_schema_version_and_kind_are_checked(tmp_path: Path) -> None:
    meta_for("scratch").save(tmp_path)
    data = json.loads((tmp_path / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(MetadataError, match="schema_version 99"):
        ModelMetadata.load(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({**data, "kind": "vit"}))
    with pytest.raises(MetadataError, match="kind: expected one of"):
        ModelMetadata.load(tmp_path)


def test_resolve_device_and_backend_batching(tmp_path: Path) -> None:
    from edge_inspector.backends import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(BackendError, match="expected auto, cpu"):
        resolve_device("tpu")
    meta = meta_for("pixel", size=32)
    save_model(build_model("pixel", (32, 32), meta.arch), meta, tmp_path)
    backend = create_backend("torch", tmp_path, "cpu")
    backend.max_batch = 2  # type: ignore[attr-defined]
    frames = [np.full((40 + i, 50, 3), 30 * i, np.uint8) for i in range(5)]
    single = [backend.infer([f])[0] for f in frames]
    batched = backend.infer(frames)
    assert [m.map.shape for m in batched] == [(40 + i, 50) for i in range(5)]
    for a, b in zip(single, batched):
        np.testing.assert_allclose(a.map, b.map, atol=1e-5)
    backend.warmup(1)
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.infer(frames[:1])


def test_feature_encoder_stays_frozen() -> None:
    model = build_model("feature", (64, 64), {"encoder_layers": 2, "width": 32}).train()
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert not model.encoder.training


@pytest.mark.parametrize(("key", "value", "message"), [
    ("roi", [1, 2, 3], "roi: expected"),
    ("std", [0.2, 0.0, 0.2], "std: expected positive"),
    ("mean", "grey", "mean: expected 3 numbers"),
    ("image_threshold", "high", "image_threshold: expected a number"),
    ("colour", 1, "unknown key 'colour'"),
])
def test_metadata_bad_values_name_the_key(tmp_path: Path, key: str, value: object, message: str) -> None:
    meta_for("scratch").save(tmp_path)
    data = json.loads((tmp_path / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps({**data, key: value}))
    with pytest.raises(MetadataError, match=f"metadata.json: {message}"):
        ModelMetadata.load(tmp_path)
