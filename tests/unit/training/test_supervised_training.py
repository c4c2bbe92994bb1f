"""The supervised kinds' training (training/supervised.py): the data protocol (train/good plus the development
split's defects, never the remainder), the class-weighted loss, the refusals, the encoder seeding, the threshold,
and a CAM that finds a defect after a few seconds of training. A tiny labelled category; CPU."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install .[train])")

from helpers.labelled_category import defect, part, write_category  # noqa: E402
from helpers.tiny_model import make_model  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edge_inspector.cli.main import main  # noqa: E402
from edge_inspector.evaluation.splits import read_split  # noqa: E402
from edge_inspector.model.checkpoint import load_model  # noqa: E402
from edge_inspector.model.networks import build_model  # noqa: E402
from edge_inspector.model.preprocess import preprocess  # noqa: E402
from edge_inspector.training.api import train  # noqa: E402
from edge_inspector.training.supervised import weighted_bce  # noqa: E402
from edge_inspector.training.supervised_data import (  # noqa: E402
    MAX_SPLIT_BYTES,
    SupervisedDataError,
    category_test_images,
    load_labelled_data,
)
from edge_inspector.training.supervised_init import copy_encoder  # noqa: E402
from edge_inspector.training.train_config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: torch on one thread

SIZE = 64


def _cfg(split: Path | None, **kw: object) -> TrainConfig:
    base: dict[str, object] = {"kind": "small-cnn", "input_size": SIZE, "width": 32, "epochs": 60, "batch_size": 16,
                               "lr": 3e-3, "patience": 60, "precision": "fp32", "device": "cpu", "split": split}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def category(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_category(tmp_path_factory.mktemp("labelled"), size=SIZE)


@pytest.fixture(scope="module")
def trained(category: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained for a few seconds (60 epochs of 3 steps) on the labelled category."""
    cat, split = category
    return train(cat, tmp_path_factory.mktemp("model") / "m", _cfg(split), progress=False).model_dir


def test_the_weighted_loss_is_the_hand_computed_one() -> None:
    logits, labels, w = [2.0, -1.0, 0.5, -3.0], [1.0, 0.0, 1.0, 0.0], 3.0

    def sig(z: float) -> float:
        return 1 / (1 + math.exp(-z))

    terms = [-(w * y * math.log(sig(z)) + (1 - y) * math.log(1 - sig(z))) for z, y in zip(logits, labels)]
    got = weighted_bce(torch.tensor(logits), torch.tensor(labels), w)
    assert float(got) == pytest.approx(sum(terms) / len(terms), rel=1e-6)
    # pos_weight 1 is plain BCE; a heavier weight raises only the defective terms.
    plain = [-(y * math.log(sig(z)) + (1 - y) * math.log(1 - sig(z))) for z, y in zip(logits, labels)]
    assert float(weighted_bce(torch.tensor(logits), torch.tensor(labels), 1.0)) == pytest.approx(sum(plain) / 4,
                                                                                                 rel=1e-6)


@pytest.mark.parametrize("extra, message", [
    ([], "model kind small-cnn needs labelled defects: give --split FILE"),
    (["--split", "X", "--auto-mask"], "--tiles, --ignore-mask and --auto-mask are not supported"),
])
def test_refusals_are_one_line(extra: list[str], message: str, category: tuple[Path, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    cat, _ = category
    code = main(["train", "--kind", "small-cnn", "--data", str(cat), "--out", str(tmp_path / "m"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "m").exists()


def test_an_autoencoder_refuses_the_supervised_flags(category: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cat, split = category
    for flag in ("--split", "--init-encoder"):
        code = main(["train", "--kind", "scratch", "--data", str(cat), "--out", str(tmp_path / "m"), flag, str(split)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"{flag}: only the kinds that judge parts on labelled defects (classifier, small-cnn) take it, " \
               "not scratch" in err


def test_training_never_sees_a_remainder_image(trained: Path, category: tuple[Path, Path]) -> None:
    cat, split = category
    _, meta = load_model(trained)
    t = meta.train
    dev = read_split(split)
    remainder = set(category_test_images(cat)) - dev
    used = set(t["defect_files"]["train"]) | set(t["defect_files"]["val"])
    assert used and used <= dev and not used & remainder
    assert not set(t["defect_files"]["train"]) & set(t["defect_files"]["val"])
    dev_defects = {p for p in dev if not p.startswith("test/good/")}
    assert used == dev_defects  # every labelled defect of the development split, and nothing else
    assert t["n_defect"] == len(t["defect_files"]["train"]) and t["n_val_defect"] == len(t["defect_files"]["val"])
    assert t["n_good"] + t["n_val_good"] == len(list((cat / "train" / "good").glob("*.png")))
    assert t["split"]["dev_good_unused"] == len(dev) - len(dev_defects)
    assert t["init"] == "random init; every layer trainable" == t["backbone"]
    assert t["n_defect"] >= 1 and "pos_weight = n_good / n_defect" in t["loss"]


def test_the_threshold_is_set_on_the_good_validation_images(trained: Path) -> None:
    from edge_inspector.backends import create_backend
    from edge_inspector.training.data import good_image_files, read_bgr, split_train_val

    _, meta = load_model(trained)
    assert meta.calibration["n_images"] == meta.train["n_val_good"] == meta.score_stats["n"]
    files = good_image_files(Path(meta.train["data_dir"]))
    _, val = split_train_val(len(files), 0.15, 0)
    backend = create_backend("torch", trained, "cpu")
    scores = [o.score for o in backend.infer([read_bgr(files[i]) for i in val])]
    assert max(scores) == pytest.approx(meta.score_stats["max"], abs=1e-6)  # the daemon's scores, recomputed
    assert max(scores) < meta.image_threshold <= 1.0
    assert 0.5 * meta.image_threshold <= meta.pixel_threshold <= meta.image_threshold


def test_the_map_peaks_where_the_defect_is(trained: Path) -> None:
    """After a few seconds of training: on fresh parts with a spot at a known place, the map's highest point
    (before the sigmoid, which saturates on the spot) is on the spot, and the part fails."""
    model, meta = load_model(trained)
    rng = np.random.default_rng(2024)
    centres = [(14, 14), (50, 14), (14, 50), (50, 50), (32, 32), (20, 44)]
    misses, passed, boxed = [], [], []
    for kind in ("dark", "bright"):
        for c in centres:
            image, mask = defect(part(rng, SIZE), rng, kind, c)
            x = torch.from_numpy(preprocess([image], meta))
            with torch.no_grad():
                z = torch.nn.functional.interpolate(model.cam_logits(x), size=(SIZE, SIZE), mode="bilinear",
                                                    align_corners=False)[0, 0].numpy()
                amap, score = model(x)
            y, xx = np.unravel_index(z.argmax(), z.shape)
            if math.hypot(xx - c[0], y - c[1]) > 8:  # the spot's radius is 6
                misses.append((kind, c, (int(xx), int(y))))
            if float(score) < meta.image_threshold:
                passed.append((kind, c, float(score)))
            assert float(amap[0, 0][mask > 0].mean()) > float(amap[0, 0][mask == 0].mean())
            boxed.append(float((amap[0, 0] >= meta.pixel_threshold).float().mean()))
    assert len(misses) <= 1, misses  # measured: 0 of 14 on seeds 0, 1, 2
    assert len(passed) <= 1, passed
    # The pixel threshold separates the spot from the part: measured at most 49% of a part's pixels over it (a weak
    # 60-epoch model, seeds 0-2). A map on Grad-CAM's ReLU floor, sigmoid(b + ReLU(cam)), put 100% of every part
    # over it (the floor sigmoid(b) = 0.52 lay above the pixel threshold 0.47), so every failing part was one box.
    assert max(boxed) < 0.75, boxed


def test_the_encoder_can_start_from_an_autoencoders(category: tuple[Path, Path], tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    source = make_model(tmp_path, "scratch", size=SIZE)  # a ResNet-50 autoencoder, encoder_layers 2
    ae = torch.load(source / "model.pt", weights_only=True)
    net = build_model("classifier", (SIZE, SIZE), {"encoder_layers": 2})
    words = copy_encoder(net, source)
    mine = net.state_dict()
    copied = [k for k in ae if k.startswith("encoder.")]
    assert copied and all(torch.equal(mine[k], ae[k]) for k in copied)
    assert f"{len(copied)} of {len([k for k in mine if k.startswith('encoder.')])} encoder tensors" in words
    with pytest.raises(SupervisedDataError, match=r"none of its encoder\.\* tensors fits this network"):
        copy_encoder(build_model("small-cnn", (SIZE, SIZE), {"width": 32}), source)

    cat, split = category
    caplog.set_level(logging.INFO)
    result = train(cat, tmp_path / "c", _cfg(split, kind="classifier", encoder_layers=2, epochs=1,
                                              init_encoder=source), progress=False)
    init = result.metadata.train["init"]
    assert init.startswith(f"encoder of scratch model scratch-unit ({source})") and init in caplog.text
    assert result.metadata.arch == {"encoder_layers": 2, "trainable": "all"}


def test_an_oversized_split_is_refused_before_it_is_read(category: tuple[Path, Path], tmp_path: Path) -> None:
    cat, _ = category
    big = tmp_path / "big.txt"
    big.write_bytes(b"test/good/000.png\n" * (MAX_SPLIT_BYTES // 18 + 1))
    with pytest.raises(SupervisedDataError, match=f"bytes, more than the {MAX_SPLIT_BYTES}"):
        load_labelled_data(cat, _cfg(big))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_file_loads_or_is_refused_in_one_line(data: st.DataObject, category: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    cat, _ = category
    names = category_test_images(cat)
    lines = data.draw(st.lists(st.one_of(st.sampled_from(names), st.text(max_size=60),
                                         st.just("test/good/../../x.png"), st.just("# comment")), max_size=12))
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        raw = data.draw(st.binary(max_size=64)) + raw
    split = tmp_path / "fuzz.txt"
    split.write_bytes(raw)
    try:
        got = load_labelled_data(cat, _cfg(split))
    except SupervisedDataError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 400 and str(exc).startswith("--split")
        return
    listed = {line.split("#", 1)[0].strip() for line in raw.decode().splitlines()}
    assert set(got.defect_rel) == {p for p in listed if p in names and not p.startswith("test/good/")}
    assert len(got.defect_train) >= 1 and len(got.defect_val) >= 1
