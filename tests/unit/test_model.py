"""Networks, preprocessing, metadata and checkpoints: tiny configurations on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need torch (pip install .[train])")

from edge_inspector.backends import BackendError, create_backend  # noqa: E402
from edge_inspector.model.backbone import BackboneWeightsMissing, load_backbone_weights  # noqa: E402
from edge_inspector.model.checkpoint import load_model, save_model  # noqa: E402
from edge_inspector.model.metadata import MetadataError, ModelMetadata  # noqa: E402
from edge_inspector.model.networks import ResNet50Encoder, build_model  # noqa: E402
from edge_inspector.model.preprocess import map_to_frame, preprocess  # noqa: E402


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
    with pytest.raises(BackboneWeightsMissing, match="--model scratch"):
        load_backbone_weights(encoder)
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
