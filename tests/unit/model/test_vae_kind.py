"""The `vae` kind (model/vae.py, training/vae_objective.py): shapes, a deterministic eval graph, a short real
training that finds a pasted defect, its KL term, checkpoints, the arch from the train flags and ONNX export."""

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
    flat_parts,
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

TINY = {"width": 32, "downsamples": 3}
VARIANTS = [TINY, {**TINY, "likelihood": True}, {**TINY, "ssim": True}]


@pytest.mark.parametrize("arch", VARIANTS, ids=["l1", "likelihood", "ssim"])
@pytest.mark.parametrize("size", [(32, 32), (32, 64)])
def test_builds_from_size_and_arch_and_scores_deterministically(arch: dict[str, object],
                                                                 size: tuple[int, int]) -> None:
    model = build_model("vae", size, arch).eval()
    x = torch.randn(3, 3, *size)
    with torch.no_grad():
        amap, score = model(x)
        again_map, again_score = model(x)
    assert amap.shape == (3, 1, *size) and score.shape == (3,)
    assert torch.equal(amap, again_map) and torch.equal(score, again_score), "eval decodes the mean: no sampling"
    assert torch.equal(score, amap.flatten(1).amax(1))
    assert bool((amap >= 0).all()), "every map is an error or a shifted NLL: never negative"


@pytest.mark.parametrize(("arch", "message"), [
    ({"downsamples": 4}, "multiples of 16"),
    ({"likelihood": "yes"}, "likelihood: expected true or false"),
    ({"width": 4}, "width: expected an integer 8..1024, got '4'"),
    ({"width": 10**9}, "width: expected an integer 8..1024"),  # would exhaust memory before failing
    ({"latent": 2.5}, "latent: expected an integer 1..512"),
    ({"beta": -1.0}, "beta: expected a number 0..1000"),
    ({"beta": float("nan")}, "beta: expected a number 0..1000"),
    ({"beta": "x" * 10_000}, "beta: expected a number, got 'xxxx"),
])
def test_a_bad_arch_is_refused_in_one_line(arch: dict[str, object], message: str) -> None:
    with pytest.raises(MetadataError, match=message) as info:  # a UserError: the CLI prints one line
        build_model("vae", (40, 40), {**TINY, "downsamples": 3, **arch})
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["width", "latent", "downsamples", "beta", "likelihood", "ssim", "other"]),
                       st.one_of(st.integers(-3, 40), st.floats(allow_nan=True), st.booleans(), st.text(max_size=300),
                                 st.none(), st.lists(st.integers(), max_size=3)), max_size=6))
def test_any_arch_builds_a_network_or_is_refused_in_one_line(arch: dict[str, object]) -> None:
    try:
        model = build_model("vae", (32, 32), arch)
    except MetadataError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1, 32, 32)


@pytest.mark.parametrize("arch", VARIANTS[:2], ids=["l1", "likelihood"])
def test_short_training_on_flat_parts_finds_a_bright_square(arch: dict[str, object]) -> None:
    model, losses = train_on_flat("vae", arch, steps=200)
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10, "the loss decreases"
    score_ratio, map_ratio = square_contrast(model)
    # Measured over seeds 0-3: score ratios 14-23, map ratios 2.6-11; the bounds leave room for other CPUs.
    assert score_ratio > 3 and map_ratio > 1.5, "the map is high on the square, low elsewhere"


def test_the_loss_is_reconstruction_plus_beta_times_the_kl_per_pixel() -> None:
    torch.manual_seed(0)
    model = build_model("vae", (32, 32), {**TINY, "beta": 0.0}).eval()  # eval: BN fixed, the same encoding
    x = flat_parts(4, torch.Generator().manual_seed(1))
    loss_fn = resolve(kind_training("vae").objective or "")
    no_amp = torch.autocast("cpu", enabled=False)
    with torch.no_grad():
        plain = loss_fn(model, x, torch.Generator().manual_seed(2), no_amp, None, None)
        model.beta = 0.5
        with_kl = loss_fn(model, x, torch.Generator().manual_seed(2), no_amp, None, None)
        mu, logvar = model.encode(x)
    # KL(N(mu, sigma^2) || N(0, 1)) per latent element, summed, batch mean, over the 32 x 32 input pixels.
    kl = float((0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum() / 4 / (32 * 32))
    assert kl > 0
    assert float(with_kl - plain) == pytest.approx(0.5 * kl, rel=1e-4)


def test_the_loss_counts_the_part_only() -> None:
    torch.manual_seed(0)
    model = build_model("vae", (32, 32), {**TINY, "beta": 0.0}).eval()
    loss_fn = resolve(kind_training("vae").objective or "")
    x = flat_parts(2, torch.Generator().manual_seed(1))
    part = torch.zeros(2, 1, 32, 32)
    part[:, :, :, :16] = 1.0
    no_amp = torch.autocast("cpu", enabled=False)
    with torch.no_grad():
        left = loss_fn(model, x, torch.Generator().manual_seed(2), no_amp, None, part)
        # beta 0 and the same noise: the loss is the sampled reconstruction's mean error over the left half.
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
        recon, _ = model.decode(mu + torch.exp(0.5 * logvar) * eps)
    expected = (x - recon).abs().mean(1)[:, :, :16].mean()
    assert float(left) == pytest.approx(float(expected), rel=1e-5)


def test_save_and_load_give_the_same_scores(tmp_path: Path) -> None:
    arch = {**TINY, "likelihood": True}
    model_dir = save_tiny(tmp_path, "vae", arch, size=32)
    built = build_model("vae", (32, 32), arch)
    built.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    loaded, meta = load_model(model_dir)
    assert meta.arch == arch
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x)[1], built.eval()(x)[1])


def test_the_arch_comes_from_the_train_flags_and_rebuilds_the_network() -> None:
    cfg = TrainConfig(kind="vae", input_size=64, width=48)
    arch = resolve(kind_training("vae").arch)(cfg)
    assert arch == {"width": 48, "latent": 16, "downsamples": 4, "beta": 1e-3, "likelihood": False, "ssim": False}
    assert json.loads(json.dumps(arch)) == arch
    model = build_model("vae", (64, 64), arch).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64))[0].shape == (1, 1, 64, 64)


def test_the_training_loop_trains_and_calibrates_a_vae(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "good"
    data.mkdir()
    for i in range(12):
        cv2.imwrite(str(data / f"good_{i:02d}.png"), rng.integers(90, 160, (40, 40, 3), dtype=np.uint8))
    cfg = TrainConfig(kind="vae", input_size=32, width=16, epochs=2, batch_size=4, seed=0, precision="fp32")
    result = train(data, tmp_path / "model", cfg, progress=False)
    loaded, meta = load_model(result.model_dir)
    assert meta.kind == "vae" and meta.model_id.startswith("vae-") and meta.arch["width"] == 16
    assert meta.image_threshold > 0 and len(result.history) == 2
    assert all(np.isfinite(loss) for pair in result.history for loss in pair)
    with torch.no_grad():
        assert loaded(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1, 32, 32)


@pytest.mark.parametrize("arch", VARIANTS, ids=["l1", "likelihood", "ssim"])
def test_onnx_runtime_scores_like_the_checkpoint(arch: dict[str, object], tmp_path: Path) -> None:
    for onnx_score, torch_score, map_diff in onnx_matches_torch(save_tiny(tmp_path, "vae", arch), tmp_path / "eng"):
        assert onnx_score == pytest.approx(torch_score, rel=1e-4, abs=1e-6)
        assert map_diff <= 1e-3
