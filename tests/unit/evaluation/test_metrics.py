"""Metrics against hand-computed cases and scikit-learn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.evaluation import at_threshold, au_pro, auroc, evaluate_arrays, f1_max, pixel_auroc, write_report
from edge_inspector.evaluation.plots import plot_roc, plot_score_histogram, plot_worst_cases


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
        ([0, 1, 1], [0.3, 0.3, 0.9], 0.75),  # a tie between classes counts one half
    ],
)
def test_auroc_hand_computed(labels: list[int], scores: list[float], expected: float) -> None:
    assert auroc(np.array(labels), np.array(scores)) == pytest.approx(expected)


def test_auroc_matches_sklearn_on_random_data() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 200)
        y[:2] = [0, 1]
        s = np.round(rng.normal(size=200) + y * 0.7, 1)  # rounding makes ties
        assert auroc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-9)
    masks = rng.random((4, 16, 16)) > 0.9
    maps = rng.random((4, 16, 16)) + masks * 0.3
    assert pixel_auroc(masks, maps) == pytest.approx(sk.roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-9)


def test_single_class_is_an_error() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auroc(np.array([0, 0]), np.array([0.1, 0.2]))


def test_f1_max_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    s = rng.random(60) + 0.3 * y
    best = max(at_threshold(y, s, t).f1 for t in s)
    f1, thr = f1_max(y, s)
    assert f1 == pytest.approx(best)
    assert at_threshold(y, s, thr).f1 == pytest.approx(best)


@pytest.mark.parametrize(
    ("threshold", "counts"),
    [(0.5, (2, 1, 2, 1)), (0.0, (3, 3, 0, 0)), (1.1, (0, 0, 3, 3))],
)
def test_at_threshold_counts(threshold: float, counts: tuple[int, int, int, int]) -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    s = np.array([0.9, 0.5, 0.2, 0.6, 0.1, 0.3])
    m = at_threshold(y, s, threshold)
    assert (m.tp, m.fp, m.tn, m.fn) == counts
    assert m.false_reject_rate == pytest.approx(m.fp / 3)


def test_au_pro_known_cases() -> None:
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 5:10, 5:10] = True
    perfect = masks.astype(np.float32)
    assert au_pro(masks, perfect) == pytest.approx(1.0, abs=1e-6)
    half = np.zeros((2, 20, 20), np.float32)
    half[0, 5:10, 5:8] = 1.0  # 15 of the region's 25 pixels detected above every normal pixel
    assert au_pro(masks, half) == pytest.approx(0.6, abs=0.02)
    rng = np.random.default_rng(0)
    noisy = perfect + rng.normal(0, 0.6, perfect.shape).astype(np.float32)
    assert au_pro(masks, perfect) > au_pro(masks, noisy) > au_pro(masks, np.zeros_like(perfect)) - 1e-9


def test_report_and_plots_are_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    types = ["good"] * 6 + ["crack"] * 3 + ["spot"] * 3
    scores = np.r_[rng.random(6) * 0.5, 0.4 + rng.random(6) * 0.6]
    masks = np.zeros((12, 16, 16), bool)
    masks[6:, 4:8, 4:8] = True
    maps = rng.random((12, 16, 16)).astype(np.float32) * 0.5 + masks
    result = evaluate_arrays("widget", types, scores, maps, masks, 0.45, "scratch-1", "scratch", [1.0, 2.0], {})
    paths = write_report(result, tmp_path)
    assert '"image_auroc"' in paths["json"].read_text()
    md = paths["markdown"].read_text()
    for word in ("image AUROC", "pixel AUROC", "AU-PRO", "F1-max", "crack", "spot", "Confusion"):
        assert word in md
    labels = np.array([t != "good" for t in types])
    images = [np.full((16, 16, 3), 100, np.uint8)] * 12
    for png in (plot_roc(labels, scores, result.image_auroc, tmp_path / "roc.png", "t"),
                plot_score_histogram(labels, scores, 0.45, tmp_path / "s.png", "t"),
                plot_worst_cases(images, list(maps), labels, scores, 0.45, tmp_path / "w.png")):
        img = cv2.imread(str(png))
        assert img is not None and img.shape[0] > 100
