"""The classical kinds (ocsvm, iforest, lof) as torch modules: their scores equal scikit-learn's own (the
independent reference, fitted here with the parameters the model's arch records: -score_samples, and for the SVM
-decision_function plus a positive constant), they survive a save/load and an ONNX export scored by ONNX Runtime,
an obvious outlier scores higher, and no input makes them return NaN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the classical kinds' modules need torch (pip install .[train])")
pytest.importorskip("sklearn", reason="scikit-learn is the reference (pip install .[train])")
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

from edge_inspector.model.checkpoint import load_model, save_model  # noqa: E402
from edge_inspector.model.classical_features import Embedding  # noqa: E402
from edge_inspector.model.metadata import MetadataError, ModelMetadata  # noqa: E402
from edge_inspector.model.networks import build_model  # noqa: E402
from edge_inspector.model.preprocess import normalise  # noqa: E402
from edge_inspector.training.classical_fit import fit_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

SIZE = 32
KINDS = ("ocsvm", "iforest", "lof")
PIXELS = {"features": "pixels", "grid": 8}  # 64 features
RESNET = {"features": "resnet", "layers": 1, "weights": "random init"}  # 256 features, cheap at 32 px
SEED = 3


def textures(n: int, seed: int) -> np.ndarray:
    """n smooth noise textures, uint8 RGB [n, SIZE, SIZE, 3], different for every image."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.zeros((SIZE, SIZE, 3), np.float32)
        for cells, amp in ((4, 40.0), (8, 20.0)):
            low = rng.standard_normal((cells, cells, 3)).astype(np.float32)
            img += amp * cv2.resize(low, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(img * 0.5 + 120, 0, 255).astype(np.uint8))
    return np.stack(out)


META = ModelMetadata(model_id="", kind="ocsvm", input_size=(SIZE, SIZE), arch={})


def as_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(normalise(images, META))


def fitted_model(kind: str, arch: dict[str, Any], images: np.ndarray) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A model of `kind` fitted on `images` the way training fits it; (model, full arch)."""
    torch.manual_seed(0)
    embedding = Embedding((SIZE, SIZE), arch).eval()
    with torch.no_grad():
        raw = embedding.raw(as_input(images)).double()
        embedding.feat_mean.copy_(raw.mean(0).float())
        embedding.feat_std.copy_(raw.std(0, unbiased=False).clamp_min(1e-3).float())
        z = embedding(as_input(images)).numpy()
    model, fitted, _ = fit_model(kind, (SIZE, SIZE), arch, embedding, z, SEED)
    return model, {**arch, **fitted.arch}


def reference(kind: str, arch: dict[str, Any], z_fit: np.ndarray) -> Any:
    """scikit-learn's own estimator, fitted here with the parameters the arch records; its score, negated."""
    if kind == "ocsvm":  # -decision_function + sum(dual_coef) - rho: positive, the boundary where the arch says
        est = OneClassSVM(kernel="rbf", nu=arch["nu"], gamma=arch["gamma"]).fit(z_fit.astype(np.float64))
        shift = est.dual_coef_.sum() + est.intercept_[0]
        assert shift == pytest.approx(arch["boundary"], rel=1e-12)
        return lambda z: shift - est.decision_function(z.astype(np.float64))
    if kind == "iforest":
        est = IsolationForest(n_estimators=arch["n_trees"], max_samples=arch["max_samples"],
                              random_state=SEED).fit(z_fit)
        return lambda z: -est.score_samples(z)
    est = LocalOutlierFactor(n_neighbors=arch["n_neighbors"], novelty=True).fit(z_fit)
    return lambda z: -est.score_samples(z)


def scorer_scores(model: torch.nn.Module, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.scorer(torch.from_numpy(z)).numpy().astype(np.float64)  # type: ignore[operator]


@pytest.mark.parametrize("kind", KINDS)
def test_scorer_equals_scikit_learn_on_random_features(kind: str) -> None:
    rng = np.random.default_rng(0)
    z_fit = rng.standard_normal((120, 16)).astype(np.float32)
    held_out = np.concatenate([rng.standard_normal((40, 16)), 5 * rng.standard_normal((5, 16))]).astype(np.float32)
    embedding = Embedding((SIZE, SIZE), {"features": "pixels", "grid": 4})  # 16 features, unused here
    model, fitted, _ = fit_model(kind, (SIZE, SIZE), {"features": "pixels", "grid": 4}, embedding, z_fit, SEED)
    ref = reference(kind, fitted.arch, z_fit)
    for z in (z_fit, held_out):  # the training points sit exactly on the trees' split values
        np.testing.assert_allclose(scorer_scores(model, z), ref(z), rtol=0, atol=1e-5)
    if kind == "ocsvm":  # the margin support vectors lie on the boundary: -decision_function 0 there, ours not
        assert float(np.abs(ref(z_fit) - fitted.arch["boundary"]).min()) < 1e-3
        assert float(scorer_scores(model, np.concatenate([z_fit, held_out])).min()) > 0.5 * fitted.arch["boundary"]


def test_iforest_splits_between_neighbouring_floats_send_each_value_where_scikit_learn_does() -> None:
    # Split values are float64 between two float32 features; a plain float32 cast can round one up onto the
    # larger value and send it left. With values one float apart (at 1000, where one float step is 6e-5, above
    # scikit-learn's 1e-7 floor for a feature worth splitting) about half the splits are such a case.
    a = np.float32(1000.0)
    b = np.nextafter(a, np.float32(2000.0))
    rng = np.random.default_rng(1)
    z = np.stack([np.where(rng.random(200) < 0.5, a, b), np.where(rng.random(200) < 0.3, a, b)], 1)
    z = z.astype(np.float32)
    model, fitted, _ = fit_model("iforest", (SIZE, SIZE), {"features": "pixels", "grid": 16},
                                 Embedding((SIZE, SIZE), {"features": "pixels", "grid": 16}), np.tile(z, (1, 2)), SEED)
    zz = np.tile(z, (1, 2))
    np.testing.assert_allclose(scorer_scores(model, zz), reference("iforest", fitted.arch, zz)(zz), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("kind", "arch"), [("ocsvm", PIXELS), ("iforest", PIXELS), ("lof", PIXELS),
                                            ("iforest", RESNET), ("lof", RESNET)])
def test_model_equals_scikit_learn_on_held_out_images(kind: str, arch: dict[str, Any]) -> None:
    train, held_out = textures(40, 0), textures(12, 1)
    model, full = fitted_model(kind, arch, train)
    with torch.no_grad():
        z_train = model.embedding(as_input(train)).numpy()  # type: ignore[operator]
        z_held = model.embedding(as_input(held_out)).numpy()  # type: ignore[operator]
        amap, score = model(as_input(held_out))
    assert amap.shape == (12, 1, SIZE, SIZE) and float(amap.abs().max()) == 0.0  # image-level: no map
    assert score.dtype == torch.float32
    np.testing.assert_allclose(score.numpy(), reference(kind, full, z_train)(z_held), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_an_obvious_outlier_scores_above_every_good_part(kind: str) -> None:
    train, good = textures(40, 0), textures(10, 2)
    model, _ = fitted_model(kind, PIXELS, train)
    blotched = good.copy()
    blotched[:, 4:20, 6:22] = 0  # a dark blot over a quarter of the part
    with torch.no_grad():
        good_scores = model(as_input(good))[1]
        bad_scores = model(as_input(blotched))[1]
    assert float(bad_scores.min()) > float(good_scores.max())


@pytest.mark.parametrize(("kind", "arch"), [("ocsvm", PIXELS), ("iforest", RESNET), ("lof", RESNET)])
def test_save_and_load_rebuild_the_buffers_from_the_arch(kind: str, arch: dict[str, Any], tmp_path: Path) -> None:
    model, full = fitted_model(kind, arch, textures(30, 0))
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(SIZE, SIZE), arch=full)
    save_model(model, meta, tmp_path / "m")
    loaded, meta2 = load_model(tmp_path / "m")
    x = as_input(textures(6, 4))
    with torch.no_grad():
        assert torch.equal(model(x)[1], loaded(x)[1])
    assert meta2.arch == full
    # A metadata arch that does not size the buffers like the weights is refused in one line.
    counts = {"ocsvm": "n_support", "iforest": "n_leaves", "lof": "n_train"}[kind]
    meta.arch = {**full, counts: full[counts] + 1}
    meta.save(tmp_path / "m")
    with pytest.raises(MetadataError, match="weights do not match metadata.json arch"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize(("kind", "arch"), [("ocsvm", PIXELS), ("iforest", RESNET), ("lof", RESNET)])
def test_onnx_runtime_scores_like_torch(kind: str, arch: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the export is checked with onnxruntime (pip install .[onnx])")
    import onnxruntime as ort

    from edge_inspector.export.onnx_checks import TRT_FRIENDLY_OPS
    from edge_inspector.export.onnx_export import export_onnx

    model, full = fitted_model(kind, arch, textures(30, 0))
    meta = ModelMetadata(model_id=f"{kind}-unit", kind=kind, input_size=(SIZE, SIZE), arch=full,
                         image_threshold=1.5, pixel_threshold=0.75)
    save_model(model, meta, tmp_path / "m")
    result = export_onnx(tmp_path / "m", tmp_path / "engine", dynamic_batch=True, max_batch=4)
    assert set(result.checks["ops"]) <= TRT_FRIENDLY_OPS
    session = ort.InferenceSession(str(result.onnx_path), providers=["CPUExecutionProvider"])
    images = np.concatenate([textures(3, 5), np.random.default_rng(1).integers(0, 256, (1, SIZE, SIZE, 3),
                                                                            dtype=np.uint8)])
    onnx_map, onnx_score = session.run(None, {"image": images})
    with torch.no_grad():
        ref_map, ref_score = model(as_input(images))
    np.testing.assert_allclose(onnx_score, ref_score.numpy(), rtol=1e-4, atol=1e-6)
    assert onnx_map.shape == (4, 1, SIZE, SIZE) and float(np.abs(onnx_map).max()) == 0.0


@pytest.fixture(scope="module")
def pixel_models() -> dict[str, torch.nn.Module]:
    return {kind: fitted_model(kind, PIXELS, textures(30, 0))[0] for kind in KINDS}


@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(KINDS), image=hnp.arrays(np.uint8, (SIZE, SIZE, 3)))
@example(kind="lof", image=np.zeros((SIZE, SIZE, 3), np.uint8))
@example(kind="ocsvm", image=np.full((SIZE, SIZE, 3), 255, np.uint8))
@example(kind="iforest", image=np.full((SIZE, SIZE, 3), 255, np.uint8))
def test_no_image_makes_a_score_that_is_not_finite(pixel_models: dict[str, torch.nn.Module], kind: str,
                                                   image: np.ndarray) -> None:
    with torch.no_grad():
        amap, score = pixel_models[kind](as_input(image[None]))
    assert bool(torch.isfinite(score).all()) and float(amap.abs().max()) == 0.0


def test_the_fp16_path_keeps_the_fitted_parameters_in_fp32() -> None:
    model, _ = fitted_model("iforest", PIXELS, textures(20, 0))
    half = model.half()
    for name, buf in half.named_buffers():
        if buf.is_floating_point():
            assert buf.dtype == torch.float32, name  # split values and training points stay exact
    with torch.no_grad():
        assert half(as_input(textures(2, 1)).half())[1].dtype == torch.float32


ARCH_VALUES = st.one_of(st.integers(-5, 10**13), st.booleans(), st.text(max_size=300), st.none(),
                        st.floats(allow_nan=True), st.lists(st.integers(), max_size=3))


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(KINDS),
       arch=st.dictionaries(st.sampled_from(["grid", "n_support", "n_train", "n_neighbors", "n_trees", "n_nodes",
                                             "n_leaves", "path_depth", "max_samples", "n_features", "features"]),
                            ARCH_VALUES, max_size=6))
def test_any_arch_builds_a_small_model_or_is_refused_in_one_line(kind: str, arch: dict[str, Any]) -> None:
    arch = {**arch, "features": "pixels"} if arch.get("features") in (None, "resnet") else arch  # ResNets are slow
    try:
        model = build_model(kind, (SIZE, SIZE), arch)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert sum(b.numel() for b in model.buffers()) <= 4 * (1 << 26)


@pytest.mark.parametrize(("kind", "arch", "message"), [
    ("ocsvm", {"features": "pixels", "grid": 7}, "arch grid: expected a divisor of the input size 32x32, got 7"),
    ("lof", {"features": "sift"}, "arch features: expected one of pixels, resnet, got 'sift'"),
    ("lof", {"features": "pixels", "grid": 8, "n_train": 3, "n_neighbors": 5}, "n_neighbors: expected 1..n_train"),
    ("iforest", {"features": "pixels", "grid": 8, "n_trees": 0}, "arch n_trees: expected an integer 1..1000"),
    # Oversized counts from a metadata.json are refused before anything is allocated.
    ("lof", {"features": "pixels", "grid": 8, "n_train": 10**12}, "arch n_train: expected an integer 1..20000"),
    ("iforest", {"features": "pixels", "grid": 8, "n_trees": 1000, "n_leaves": 8192, "path_depth": 64},
     "arch: the leaf paths would hold 524288000 values, more than 67108864"),
    ("ocsvm", {"features": "pixels", "grid": 256, "n_support": 20000}, "arch grid: expected a divisor"),
    ("lof", {"features": "resnet", "layers": 9}, "arch layers: expected an integer 1..4, got 9"),
    ("ocsvm", {"features": "pixels", "grid": 8, "n_features": 100}, "arch n_features: 100 does not match the 64"),
])
def test_a_bad_arch_is_refused_in_one_line(kind: str, arch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")) as err:
        build_model(kind, (SIZE, SIZE), arch)
    assert "\n" not in str(err.value)
