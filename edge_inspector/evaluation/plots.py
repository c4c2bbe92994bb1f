"""PNG plots for evaluation reports (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .metrics import roc_curve


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_roc(labels: np.ndarray, scores: np.ndarray, auc: float, path: Path, title: str) -> Path:
    plt = _plt()
    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    ax.plot(fpr, tpr, lw=2, label=f"AUROC {auc:.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate (good parts rejected)", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    return _save(plt, fig, path)


def plot_score_histogram(labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path, title: str) -> Path:
    plt = _plt()
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores)
    bins = np.linspace(min(s.min(), threshold), max(s.max(), threshold), 30)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.hist(s[~y], bins=bins, alpha=0.6, label=f"good (n={(~y).sum()})", color="tab:green")
    ax.hist(s[y], bins=bins, alpha=0.6, label=f"defective (n={y.sum()})", color="tab:red")
    ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="anomaly score", ylabel="images", title=title)
    ax.legend()
    return _save(plt, fig, path)


def overlay(image: np.ndarray, amap: np.ndarray, vmax: float) -> np.ndarray:
    """BGR image with a JET heatmap of the map scaled to [0, vmax]."""
    norm = np.clip(amap / max(vmax, 1e-9), 0, 1)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.resize(heat, image.shape[1::-1])
    return cv2.addWeighted(image, 0.55, heat, 0.45, 0)


def plot_worst_cases(images: list[np.ndarray], maps: list[np.ndarray], labels: np.ndarray, scores: np.ndarray,
                     threshold: float, path: Path, k: int = 4) -> Path:
    """Top row: highest-scoring good images (false positives first); bottom: lowest-scoring defective ones."""
    plt = _plt()
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores)
    good = [i for i in np.argsort(-s) if not y[i]][:k]
    bad = [i for i in np.argsort(s) if y[i]][:k]
    fig, axes = plt.subplots(2, k, figsize=(2.6 * k, 5.6), dpi=100, squeeze=False)
    for row, (idx, name) in enumerate(((good, "good"), (bad, "defective"))):
        for col in range(k):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(idx):
                i = idx[col]
                ax.imshow(cv2.cvtColor(overlay(images[i], maps[i], 2 * threshold), cv2.COLOR_BGR2RGB))
                wrong = (s[i] >= threshold) != y[i]
                ax.set_title(f"{name} {s[i]:.3f}{' (wrong)' if wrong else ''}", fontsize=9,
                             color="red" if wrong else "black")
    fig.suptitle(f"worst cases (threshold {threshold:.3f})")
    return _save(plt, fig, path)


def plot_loss_curve(history: list[tuple[float, float]], path: Path, title: str) -> Path:
    """Training and validation loss per epoch (log scale when the losses span a decade or more)."""
    plt = _plt()
    h = np.asarray(history, dtype=float).reshape(-1, 2)
    epochs = np.arange(1, len(h) + 1)
    fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=110)
    ax.plot(epochs, h[:, 0], lw=1.2, label="train")
    ax.plot(epochs, h[:, 1], lw=1.2, label="validation")
    positive = h[np.isfinite(h) & (h > 0)]
    if positive.size and positive.max() / positive.min() >= 10:
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend()
    return _save(plt, fig, path)
