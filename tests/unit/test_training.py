"""A short real training run: the map is higher inside a pasted defect than outside, calibration is sane."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need torch (pip install .[train])")

from edge_inspector.backends import create_backend  # noqa: E402
from edge_inspector.synth import generate_dataset, render_sample  # noqa: E402
from edge_inspector.training.augment import simulate_anomalies  # noqa: E402
from edge_inspector.training.calibrate import calibrate  # noqa: E402
from edge_inspector.training.loop import TrainConfig, train  # noqa: E402


def test_simulated_anomalies_are_masked_and_deterministic() -> None:
    x = torch.randn(6, 3, 32, 32)
    a1, m1 = simulate_anomalies(x, torch.Generator().manual_seed(1), p_anomaly=1.0)
    a2, m2 = simulate_anomalies(x, torch.Generator().manual_seed(1), p_anomaly=1.0)
    assert torch.equal(a1, a2) and torch.equal(m1, m2)
    assert set(m1.unique().tolist()) <= {0.0, 1.0}
    coverage = m1.flatten(1).mean(1)
    assert bool(((coverage > 0.002) & (coverage < 0.12)).all())
    assert torch.equal(a1 * (1 - m1), x * (1 - m1)), "nothing changes outside the mask"


def test_calibration_policy_on_good_scores() -> None:
    scores = np.linspace(0.1, 0.3, 50)
    cal = calibrate(scores, np.full((50, 8, 8), 0.05, np.float32), frr_target=0.02)
    assert cal["image_threshold"] > np.quantile(scores, 0.98)
    assert (scores >= cal["image_threshold"]).mean() <= 0.02
    assert cal["pixel_threshold"] <= cal["image_threshold"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("train")
    data = generate_dataset(root / "data", "brushed_metal", n_train=40, n_test_good=1, n_test_defect_per_type=1,
                            size=64, seed=3)
    cfg = TrainConfig(kind="scratch", input_size=64, encoder_layers=2, width=64, epochs=25, batch_size=8, lr=5e-4,
                      patience=100, seed=0)  # fixed epochs, not a time budget: the same model on any machine
    return train(data.root, root / "model", cfg, progress=False)


def test_short_training_localises_a_pasted_defect(short_run) -> None:  # type: ignore[no-untyped-def]
    backend = create_backend("torch", short_run.model_dir, "cpu")
    rng = np.random.default_rng(123)
    inside, outside = [], []
    for defect in ("contamination", "missing", "crack"):
        sample = render_sample("brushed_metal", rng, size=64, defect_type=defect)
        amap = backend.infer([sample.image])[0].map
        inside.append(float(amap[sample.mask > 0].mean()))
        outside.append(float(amap[sample.mask == 0].mean()))
    assert all(i > o for i, o in zip(inside, outside)), (inside, outside)
    assert np.mean(inside) - np.mean(outside) > 0.02, (inside, outside)


def test_training_writes_calibrated_metadata(short_run) -> None:  # type: ignore[no-untyped-def]
    meta = short_run.metadata
    assert (short_run.model_dir / "model.pt").is_file() and (short_run.model_dir / "metadata.json").is_file()
    assert meta.model_id.startswith("scratch-")
    assert meta.score_stats["max"] <= meta.image_threshold
    assert meta.train["n_train"] + meta.train["n_val"] == 40
    assert len(meta.train["data_hash"]) == 16
    assert "threshold" in short_run.summary()
