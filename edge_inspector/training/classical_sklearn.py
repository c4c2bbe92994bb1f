"""scikit-learn fits the classical baselines; this module turns each fitted estimator into the buffers of its torch
scorer (model/classical.py) and keeps the estimator's own score as the reference the scorer must reproduce.

Only training imports scikit-learn (the `train` extra); the model directory it leaves needs none of it. Uses
public attributes only (support_vectors_, dual_coef_, estimators_[i].tree_, kneighbors), so a scikit-learn
upgrade that reshuffles private state cannot silently change the copy; the parity check in classical_fit.py
would catch one that changed the maths.

Defaults, and why:
* OneClassSVM: RBF, nu=0.1 (at most ~10 % of the good training images outside the boundary, and at least 10 % of
  them kept as support vectors), gamma = 1 / (n_features * variance) (scikit-learn's "scale").
* IsolationForest: 100 trees of min(256, n) samples (the paper's and scikit-learn's defaults): a few MB of
  buffers and path lengths that have converged.
* LocalOutlierFactor: novelty=True, k = min(20, n - 1) neighbours (scikit-learn's default, which its docs find
  works well in general).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserError
from ..model.classical import average_path_length

OCSVM_NU = 0.1
IFOREST_TREES = 100
IFOREST_MAX_SAMPLES = 256
LOF_NEIGHBORS = 20


class ClassicalFitError(UserError, ValueError):
    """A classical kind cannot be trained as asked; one line naming the data dir, the flag or the package."""


def require_sklearn() -> str:
    """scikit-learn's version, its estimators imported now (so a fit's timing is the fit's); ClassicalFitError
    naming the extra when it is not installed."""
    try:
        import sklearn
        import sklearn.ensemble
        import sklearn.neighbors
        import sklearn.svm  # noqa: F401
    except ImportError:
        raise ClassicalFitError("the classical kinds are fitted by scikit-learn, which is not installed: "
                                "pip install 'edge-inspector[train]'") from None
    return str(sklearn.__version__)


@dataclass(frozen=True)
class Fitted:
    """name: scikit-learn's estimator; arch: the counts that size the scorer's buffers (and the parameters, for
    the record); buffers: numpy arrays named as the scorer's buffers; reference: scikit-learn's score (higher =
    more anomalous) of features [N, D]."""

    name: str
    arch: dict[str, Any]
    buffers: dict[str, np.ndarray]
    reference: Callable[[np.ndarray], np.ndarray]


def fit_ocsvm(z: np.ndarray, seed: int) -> Fitted:
    """One-class SVM on standardised features z [N, D]; score = -decision_function + the arch's "boundary" (the
    score on scikit-learn's decision boundary)."""
    from sklearn.svm import OneClassSVM

    z64 = z.astype(np.float64)
    gamma = 1.0 / (z64.shape[1] * max(float(z64.var()), 1e-12))
    est = OneClassSVM(kernel="rbf", nu=OCSVM_NU, gamma=gamma).fit(z64)
    support = np.asarray(est.support_vectors_, np.float32)
    coef = np.asarray(est.dual_coef_, np.float64).reshape(-1)
    buffers = {"support": support, "dual_coef": coef.astype(np.float32), "gamma": np.asarray([gamma], np.float32)}
    # The scorer's score is -decision_function + shift (model/classical.py OCSVMScorer says why).
    shift = float(coef.sum() + est.intercept_[0])
    arch = {"n_support": len(support), "nu": OCSVM_NU, "gamma": gamma, "boundary": shift}
    return Fitted("OneClassSVM", arch, buffers, lambda x: shift - est.decision_function(x.astype(np.float64)))


def fit_iforest(z: np.ndarray, seed: int) -> Fitted:
    """IsolationForest on features z [N, D], flattened into the dense scorer's tables; score = -score_samples."""
    from sklearn.ensemble import IsolationForest

    max_samples = min(IFOREST_MAX_SAMPLES, len(z))
    est = IsolationForest(n_estimators=IFOREST_TREES, max_samples=max_samples, max_features=1.0,
                          random_state=seed).fit(z)
    trees = [e.tree_ for e in est.estimators_]
    walks = [_leaf_paths(t.children_left, t.children_right) for t in trees]
    n_nodes = max(1, *(int((t.children_left != -1).sum()) for t in trees))
    n_leaves = max(len(w) for w in walks)
    depth = max(1, *(len(path) for w in walks for _, path in w))
    n_trees = len(trees)
    feature = np.zeros(n_trees * n_nodes, np.int64)
    threshold = np.zeros(n_trees * n_nodes, np.float32)
    path_index = np.zeros((n_trees * n_leaves, depth), np.int64)
    sign = np.zeros((n_trees * n_leaves, depth), np.float32)
    bias = np.zeros(n_trees * n_leaves, np.float32)
    value = np.zeros(n_trees * n_leaves, np.float32)
    for t, (tree, walk) in enumerate(zip(trees, walks)):
        internal = np.flatnonzero(tree.children_left != -1)
        slot = {int(node): t * n_nodes + j for j, node in enumerate(internal)}
        feature[t * n_nodes:t * n_nodes + len(internal)] = tree.feature[internal]
        threshold[t * n_nodes:t * n_nodes + len(internal)] = float32_at_most(tree.threshold[internal])
        for j, (leaf, path) in enumerate(walk):
            row = t * n_leaves + j
            for d, (node, left) in enumerate(path):
                path_index[row, d], sign[row, d] = slot[node], 1.0 if left else -1.0
            bias[row] = 1.0 - sum(left for _, left in path)
            value[row] = len(path) + average_path_length(float(tree.n_node_samples[leaf]))
    buffers: dict[str, np.ndarray] = {"node_feature": feature, "node_threshold": threshold,
                                      "leaf_path": path_index.reshape(-1), "leaf_sign": sign, "leaf_bias": bias,
                                      "leaf_value": value}
    arch = {"n_trees": n_trees, "n_nodes": n_nodes, "n_leaves": n_leaves, "path_depth": depth,
            "max_samples": max_samples}
    return Fitted("IsolationForest", arch, buffers, lambda x: -est.score_samples(x))


def fit_lof(z: np.ndarray, seed: int) -> Fitted:
    """LocalOutlierFactor (novelty) on features z [N, D]: training points, their k-distance and lrd, computed
    as scikit-learn computes them from its public kneighbors(); score = -score_samples."""
    from sklearn.neighbors import LocalOutlierFactor

    k = max(1, min(LOF_NEIGHBORS, len(z) - 1))
    est = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(z)
    dist, index = est.kneighbors()  # each training point's k nearest others
    k_distance = dist[:, -1]
    lrd = 1.0 / (np.maximum(dist, k_distance[index]).mean(axis=1) + 1e-10)
    buffers = {"train_points": np.asarray(z, np.float32), "k_distance": k_distance.astype(np.float32),
               "train_lrd": lrd.astype(np.float32)}
    return Fitted("LocalOutlierFactor", {"n_train": len(z), "n_neighbors": int(est.n_neighbors_)}, buffers,
                  lambda x: -est.score_samples(x))


FITTERS: dict[str, Callable[[np.ndarray, int], Fitted]] = {"ocsvm": fit_ocsvm, "iforest": fit_iforest,
                                                          "lof": fit_lof}


def float32_at_most(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: for a float32 feature x, x <= t64 exactly when
    x <= t32 (a plain cast may round a midpoint up onto the next training value and send it the other way)."""
    t32 = threshold.astype(np.float32)
    up = t32.astype(np.float64) > threshold
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def _leaf_paths(left: np.ndarray, right: np.ndarray) -> list[tuple[int, list[tuple[int, bool]]]]:
    """(leaf, [(internal node, went left), ...] from the root) for every leaf of a tree, depth first."""
    out: list[tuple[int, list[tuple[int, bool]]]] = []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if left[node] == -1:
            out.append((node, path))
        else:
            stack.append((int(right[node]), [*path, (node, False)]))
            stack.append((int(left[node]), [*path, (node, True)]))
    return out


def fill(scorer: Any, buffers: dict[str, np.ndarray]) -> None:
    """Copy `buffers` into the scorer's registered buffers of the same names and shapes (ValueError otherwise)."""
    import torch

    own = dict(scorer.named_buffers())
    for name, array in buffers.items():
        target = own.get(name)
        if target is None or tuple(target.shape) != array.shape:
            raise ValueError(f"scorer buffer {name}: expected shape {None if target is None else tuple(target.shape)}"
                             f", got {array.shape}")
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
