"""The `dense-ae` and `conv-ae` kinds (model/small_autoencoders.py, training/small_ae_objective.py): grey input
inside the graph, shapes at and beside grey_size, a short real training that finds a pasted defect, checkpoints,
the arch from the train flags, the real training loop and ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="model tests need torch (pip install .[train])")
pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime (pip install .[onnx])")

from helpers.unsupervised_kinds import (  # noqa: E402
    clean_and_defect,
    onnx_matches_torch,
    save_tiny,
    square_contrast,
    train_on_flat,
)

from edge_inspector.model.checkpoint import load_model  # noqa: E402
from edge_inspector.model.metadata import MetadataError  # noqa: E402
from edge_inspector.model.networks import build_model  # noqa: E402
from edge_inspector.training.kind_training import kind_training, resolve  # noqa: E402
from edge_inspector.training.loop import train  # noqa: E402
from edge_inspector.training.train_config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

TINY = {"dense-ae": {"grey_size": 32, "hidden": 128, "code": 16},
        "conv-ae": {"grey_size": 32, "width": 32, "downsamples": 3}}
KINDS = tuple(TINY)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (64, 96), (40, 56)])
def test_builds_from_size_and_arch_and_scores_deterministically(kind: str, size: tuple[int, int]) -> None:
    model = build_model(kind, size, TINY[kind]).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        amap, score = model(x)
        again_map, again_score = model(x)
        grey = model.to_grey(x)
    assert amap.shape == (2, 1, *size) and score.shape == (2,), "the map comes back at the input size"
    assert grey.shape == (2, 1, 32, 32), "the network sees grey_size x grey_size"
    assert torch.equal(amap, again_map) and torch.equal(score, again_score)
    assert torch.equal(score, amap.flatten(1).amax(1))


@pytest.mark.parametrize("kind", KINDS)
def test_the_grey_image_is_the_luma_of_the_normalised_channels(kind: str) -> None:
    model = build_model(kind, (64, 64), TINY[kind]).eval()
    x = torch.randn(2, 3, 64, 64)
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).numpy()  # ITU-R BT.601 luma weights
    expected = luma.reshape(2, 32, 2, 32, 2).mean(axis=(2, 4))  # 64 -> 32: the mean of each 2 x 2 block
    with torch.no_grad():
        assert np.allclose(model.to_grey(x)[:, 0].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(("kind", "arch", "message"), [
    ("dense-ae", {"grey_size": "32"}, "dense-ae arch grey_size: expected an integer 8..512, got '32'"),
    ("dense-ae", {"grey_size": 4}, "grey_size: expected an integer 8..512"),
    ("dense-ae", {"hidden": "9" * 10_000}, "hidden: expected an integer 1..8192, got '9999"),
    # 512 x 512 grey x 8192 hidden: 2**31 weights a layer (8 GiB), refused before any is allocated.
    ("dense-ae", {"grey_size": 512, "hidden": 8192}, "weights a layer, over the limit 67108864"),
    ("conv-ae", {"grey_size": 40, "downsamples": 4}, "multiple of 2..downsamples"),
    ("conv-ae", {"width": True}, "conv-ae arch width: expected an integer"),
    ("conv-ae", {"width": 4096}, "conv-ae arch width: expected an integer 8..1024"),
])
def test_a_bad_arch_is_refused_in_one_line(kind: str, arch: dict[str, object], message: str) -> None:
    with pytest.raises(MetadataError, match=message) as info:  # a UserError: the CLI prints one line
        build_model(kind, (32, 32), {**TINY[kind], **arch})
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=100, deadline=None)
@given(arch=st.dictionaries(st.sampled_from(["grey_size", "hidden", "code", "width", "latent", "downsamples", "x"]),
                            st.one_of(st.integers(-2, 40), st.floats(), st.booleans(), st.text(max_size=300),
                                      st.none()), max_size=6))
def test_any_arch_builds_a_network_or_is_refused_in_one_line(kind: str, arch: dict[str, object]) -> None:
    try:
        model = build_model(kind, (32, 32), arch)
    except MetadataError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1, 32, 32)


def test_a_model_dir_with_a_bad_arch_fails_to_load_with_one_line(tmp_path: Path) -> None:
    model_dir = save_tiny(tmp_path, "conv-ae", TINY["conv-ae"])
    meta = json.loads((model_dir / "metadata.json").read_text())
    meta["arch"]["downsamples"] = "four"
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(MetadataError, match="conv-ae arch downsamples: expected an integer 1..6, got 'four'"):
        load_model(model_dir)


@pytest.mark.parametrize("kind", KINDS)
def test_short_training_on_flat_parts_finds_a_bright_square(kind: str) -> None:
    model, losses = train_on_flat(kind, TINY[kind], steps=200)
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10, "the loss decreases"
    score_ratio, map_ratio = square_contrast(model)
    # Measured over seeds 0-3: score ratios 13-77, map ratios 4-10; the bounds leave room for other CPUs.
    assert score_ratio > 3 and map_ratio > 2, "the map is high on the square, low elsewhere"


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_give_the_same_scores(kind: str, tmp_path: Path) -> None:
    model_dir = save_tiny(tmp_path, kind, TINY[kind], size=64)
    built = build_model(kind, (64, 64), TINY[kind])
    built.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    loaded, meta = load_model(model_dir)
    assert meta.arch == TINY[kind]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x)[1], built.eval()(x)[1])


@pytest.mark.parametrize(("kind", "input_size", "expected"), [
    ("dense-ae", 256, {"grey_size": 128, "hidden": 512, "code": 64}),  # the classic 128 x 128 baseline
    ("dense-ae", 64, {"grey_size": 64, "hidden": 512, "code": 64}),  # no upsampling of a small input
    ("conv-ae", 256, {"grey_size": 128, "width": 128, "latent": 16, "downsamples": 4}),
])
def test_the_arch_comes_from_the_train_flags(kind: str, input_size: int, expected: dict[str, int]) -> None:
    arch = resolve(kind_training(kind).arch)(TrainConfig(kind=kind, input_size=input_size))
    assert arch == expected and json.loads(json.dumps(arch)) == arch


@pytest.mark.parametrize("kind", KINDS)
def test_the_training_loop_trains_and_calibrates_the_kind(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "good"
    data.mkdir()
    for i in range(12):
        level = int(rng.integers(80, 180))
        cv2.imwrite(str(data / f"good_{i:02d}.png"), np.full((40, 40, 3), level, np.uint8)
                    + rng.integers(0, 4, (40, 40, 1), dtype=np.uint8))
    cfg = TrainConfig(kind=kind, input_size=32, width=16, epochs=3, batch_size=4, seed=0, precision="fp32")
    result = train(data, tmp_path / "model", cfg, progress=False)
    loaded, meta = load_model(result.model_dir)
    assert meta.kind == kind and meta.model_id.startswith(f"{kind}-") and meta.arch["grey_size"] == 32
    assert meta.image_threshold > 0 and len(result.history) == 3
    _, bad = clean_and_defect()
    with torch.no_grad():
        assert loaded(bad)[0].shape == (1, 1, 32, 32)


# 32 px grey from a 64 px input (block mean) and from a 48 px one (bilinear): each resize path in the graph.
@pytest.mark.parametrize(("kind", "size"), [("dense-ae", 64), ("conv-ae", 48)])
def test_onnx_runtime_scores_like_the_checkpoint(kind: str, size: int, tmp_path: Path) -> None:
    model_dir = save_tiny(tmp_path, kind, TINY[kind], size=size)
    for onnx_score, torch_score, map_diff in onnx_matches_torch(model_dir, tmp_path / "eng"):
        assert onnx_score == pytest.approx(torch_score, rel=1e-4, abs=1e-6)
        assert map_diff <= 1e-3
