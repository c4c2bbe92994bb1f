"""Training the classical kinds (training/classical_fit.py) on a tiny folder of good images: the model dir it
writes scores through the torch backend like scikit-learn, carries its threshold and records where its features
came from; refusals are one line."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install .[train])")
pytest.importorskip("sklearn", reason="the classical kinds are fitted by scikit-learn (pip install .[train])")

from edge_inspector.backends import create_backend  # noqa: E402
from edge_inspector.cli.main import main  # noqa: E402
from edge_inspector.model.metadata import ModelMetadata  # noqa: E402
from edge_inspector.training.api import train  # noqa: E402
from edge_inspector.training.classical_fit import ClassicalFitError  # noqa: E402
from edge_inspector.training.classical_sklearn import float32_at_most  # noqa: E402
from edge_inspector.training.data import split_train_val  # noqa: E402
from edge_inspector.training.train_config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

SIZE = 32


def write_good_images(folder: Path, n: int, seed: int = 0) -> Path:
    """n smooth-noise BGR PNGs in an MVTec-like train/good folder; returns the category dir."""
    good = folder / "train" / "good"
    good.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        low = rng.standard_normal((4, 4, 3)).astype(np.float32)
        img = 120 + 30 * cv2.resize(low, (SIZE * 2, SIZE * 2), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(good / f"{i:03d}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_good_images(tmp_path_factory.mktemp("classical") / "part", 24)


def config(kind: str, **kw: object) -> TrainConfig:
    base = {"kind": kind, "input_size": SIZE, "encoder_layers": 1, "seed": 0, "device": "cpu"}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["ocsvm", "iforest", "lof"])
def test_a_fitted_model_dir_scores_and_records_like_scikit_learn(kind: str, data_dir: Path, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING)
    result = train(data_dir, tmp_path / "m", config(kind))
    meta = ModelMetadata.load(tmp_path / "m")
    assert meta.model_id.startswith(f"{kind}-") and meta.model_id == result.metadata.model_id
    fit = meta.train["fit"]
    assert fit["sklearn_max_abs_diff"] <= 1e-5 and fit["rows"] == meta.train["n_train"] == 24 - 4
    assert meta.versions["scikit_learn"] and meta.train["epochs"] is None
    resnet = kind != "ocsvm"
    assert meta.arch["features"] == ("resnet" if resnet else "pixels")
    if resnet:  # no ImageNet weights here: random ones, said in the arch, the record and a warning
        assert meta.arch["weights"] == meta.train["backbone"] == "random init"
        assert "RANDOM ResNet-50" in caplog.text
    # The threshold was calibrated on the validation images through the backend the daemon uses.
    backend = create_backend("torch", tmp_path / "m", "cpu")
    files = sorted((data_dir / "train" / "good").glob("*.png"))
    val = split_train_val(len(files), 0.15, 0)[1]
    scores = np.asarray([o.score for o in backend.infer([cv2.imread(str(files[i])) for i in val])])
    assert meta.score_stats["n"] == len(val) == 4 and np.isfinite(meta.image_threshold)
    assert meta.score_stats["max"] == pytest.approx(scores.max(), rel=1e-6)
    assert meta.score_stats["mean"] == pytest.approx(scores.mean(), rel=1e-5)
    assert meta.image_threshold > scores.max()  # few good images: just above the highest good score
    err = capsys.readouterr().err
    assert f"train {kind}: fitted scikit-learn's" in err and "calibrated on 4 good validation images" in err
    summary = result.summary()
    assert f"fitted {kind} model {meta.model_id}" in summary and "image-level: no map" in summary
    assert "nan" not in summary


def test_pixel_features_for_a_kind_that_defaults_to_resnet(data_dir: Path, tmp_path: Path) -> None:
    cfg = config("lof")
    cfg.features = "pixels"  # type: ignore[attr-defined]  # the hook a --features flag sets
    train(data_dir, tmp_path / "m", cfg, progress=False)
    meta = ModelMetadata.load(tmp_path / "m")
    assert meta.arch["features"] == "pixels" and meta.train["backbone"] == "none (pixels)"


def test_imagenet_weights_are_loaded_and_recorded_when_given(data_dir: Path, tmp_path: Path) -> None:
    from torchvision.models import resnet50

    torch.manual_seed(7)
    state = {k: v for k, v in resnet50(weights=None).state_dict().items() if k.split(".")[0] in ("conv1", "bn1",
                                                                                                  "layer1")}
    weights = tmp_path / "resnet50-11ad3fa6.pth"
    torch.save(state, weights)
    train(data_dir, tmp_path / "m", config("iforest", backbone_weights=weights), progress=False)
    meta = ModelMetadata.load(tmp_path / "m")
    assert meta.arch["weights"] == "imagenet" and meta.train["backbone"] == str(weights)
    loaded = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert torch.equal(loaded["embedding.features.encoder.stem.0.weight"], state["conv1.weight"])


@pytest.mark.parametrize(("kw", "message"), [
    ({"tiles": True}, "--tiles: iforest scores whole images"),
    ({"auto_mask": True}, "--ignore-mask/--auto-mask: iforest scores whole images"),
])
def test_options_an_image_level_kind_cannot_honour_are_refused(kw: dict[str, object], message: str,
                                                               data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ClassicalFitError, match=message) as err:
        train(data_dir, tmp_path / "m", config("iforest", **kw))
    assert "\n" not in str(err.value)


def test_too_few_images_is_one_line_naming_the_data_dir(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    small = write_good_images(tmp_path / "tiny", 2)
    with pytest.raises(ClassicalFitError) as err:
        train(small, tmp_path / "m", config("ocsvm"))
    assert str(small) in str(err.value) and "\n" not in str(err.value)
    code = main(["train", "--kind", "lof", "--data", str(small), "--out", str(tmp_path / "m"),
                 "--input-size", str(SIZE)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(small) in lines[0] and "at least 4 good images" in lines[0]
    assert not (tmp_path / "m").exists()


def test_split_values_are_rounded_down_to_float32() -> None:
    # For float32 x, x <= t (float64) exactly when x <= float32_at_most(t).
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(np.float32) * np.float32(1000)
    t = x.astype(np.float64) + rng.uniform(-1e-4, 1e-4, 5000)
    t32 = float32_at_most(t)
    assert t32.dtype == np.float32 and np.all(t32.astype(np.float64) <= t)
    assert np.array_equal(x <= t, x <= t32)
    assert not np.array_equal(x <= t, x <= t.astype(np.float32)), "the plain cast this replaces does differ"
