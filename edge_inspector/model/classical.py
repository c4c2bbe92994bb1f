"""The classical baselines (kinds ocsvm, iforest, lof) as small torch modules: scikit-learn fits them at training
time (training/classical_fit.py), their fitted parameters are copied into buffers here, and the eval forward
reproduces scikit-learn's score with plain tensor ops. So the model directory, the ONNX export, ONNX Runtime in the
torch-free daemon and TensorRT treat them like every other kind, and no runtime needs scikit-learn.

forward(x) -> (anomaly_map [B,1,H,W] of zeros: these kinds score whole images only (has_map False), score [B]),
higher = more anomalous: the negation of scikit-learn's score_samples (IsolationForest, LocalOutlierFactor) and,
for the one-class SVM, its -decision_function shifted by a constant so that it stays positive (OCSVMScorer).
Buffer shapes come from the metadata arch (n_support, n_trees, ...), so checkpoint.load_model rebuilds them
before load_state_dict. Ops: Sub, Mul, ReduceSum, Exp, Sqrt, Gather,
LessOrEqual + Cast, Relu, TopK (static k): no loops over samples, no data-dependent control flow.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .classical_features import Embedding, Fp32Buffers, shown


def average_path_length(n: float) -> float:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points (Liu et al.
    2008), the term IsolationForest adds at a leaf holding n training points; 0 for n <= 1, 1 for n == 2."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n


def squared_distances(z: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """||z_b - p_i||^2 [B, N] from differences, not the |a|^2 + |b|^2 - 2ab expansion, whose float32
    cancellation near 0 would move scores by more than the 1e-5 they must match scikit-learn to."""
    diff = z.unsqueeze(1) - points.unsqueeze(0)
    return (diff * diff).sum(dim=2)


class OCSVMScorer(Fp32Buffers):
    """One-class SVM with an RBF kernel: sum_i a_i (1 - exp(-gamma ||z - sv_i||^2)).

    That is scikit-learn's -decision_function shifted by the constant sum_i a_i - rho (same order, same AUROC,
    the boundary at score sum_i a_i - rho): -decision_function is 0 on the boundary, where the threshold sits,
    and a score near 0 cannot be compared relatively (the export's ONNX Runtime check is relative); this one is
    positive, 0 only on top of every support vector at once."""

    def __init__(self, n_support: int, n_features: int) -> None:
        super().__init__()
        self.register_buffer("support", torch.zeros(n_support, n_features))
        self.register_buffer("dual_coef", torch.zeros(n_support))
        self.register_buffer("gamma", torch.ones(1))
        self.support: torch.Tensor
        self.dual_coef: torch.Tensor
        self.gamma: torch.Tensor

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        kernel = torch.exp(-self.gamma * squared_distances(z, self.support))
        return ((1.0 - kernel) * self.dual_coef).sum(dim=1)


class IsolationForestScorer(Fp32Buffers):
    """IsolationForest's path lengths as dense tensor ops over all trees at once.

    Nodes: every tree's internal nodes, padded to n_nodes, flattened; test t = z[feature] <= threshold.
    Leaves: every tree's leaves, padded to n_leaves; each leaf lists the nodes on its path (padded to
    path_depth) with sign +1 where the path goes left (t true) and -1 where it goes right. For the leaf a
    sample reaches, sum(sign * t) equals the number of left turns n_left; for any other leaf it is at least one
    less, so relu(sum(sign * t) - n_left + 1) is 1 for the reached leaf and 0 elsewhere (leaf_bias = 1 - n_left;
    padding leaves have sign 0 and bias 0). Path length = sum over reached leaves of depth + c(leaf samples).
    """

    def __init__(self, n_trees: int, n_nodes: int, n_leaves: int, path_depth: int, max_samples: int) -> None:
        super().__init__()
        self.n_leaves_total = n_trees * n_leaves
        self.path_depth = path_depth
        self.register_buffer("node_feature", torch.zeros(n_trees * n_nodes, dtype=torch.long))
        self.register_buffer("node_threshold", torch.zeros(n_trees * n_nodes))
        self.register_buffer("leaf_path", torch.zeros(n_trees * n_leaves * path_depth, dtype=torch.long))
        self.register_buffer("leaf_sign", torch.zeros(n_trees * n_leaves, path_depth))
        self.register_buffer("leaf_bias", torch.zeros(n_trees * n_leaves))
        self.register_buffer("leaf_value", torch.zeros(n_trees * n_leaves))
        self.node_feature: torch.Tensor
        self.node_threshold: torch.Tensor
        self.leaf_path: torch.Tensor
        self.leaf_sign: torch.Tensor
        self.leaf_bias: torch.Tensor
        self.leaf_value: torch.Tensor
        # score = 2 ** (-mean path / c(max_samples)) = exp(total path * -ln 2 / (n_trees * c(max_samples)))
        self.exponent = -math.log(2.0) / (n_trees * max(average_path_length(max_samples), 1e-12))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tests = (torch.index_select(z, 1, self.node_feature) <= self.node_threshold).to(z.dtype)
        turns = torch.index_select(tests, 1, self.leaf_path).reshape(-1, self.n_leaves_total, self.path_depth)
        reached = torch.relu((turns * self.leaf_sign).sum(dim=2) + self.leaf_bias)
        return torch.exp((reached * self.leaf_value).sum(dim=1) * self.exponent)


class LOFScorer(Fp32Buffers):
    """LocalOutlierFactor (novelty): the k nearest training points, reach-dist = max(d, k-distance(neighbour)),
    lrd = 1 / (mean reach-dist + 1e-10), score = mean lrd(neighbours) / lrd(z)."""

    def __init__(self, n_train: int, n_features: int, n_neighbors: int) -> None:
        super().__init__()
        if not 1 <= n_neighbors <= n_train:
            raise ValueError(f"arch n_neighbors: expected 1..n_train ({n_train}), got {n_neighbors}")
        self.k = n_neighbors
        self.register_buffer("train_points", torch.zeros(n_train, n_features))
        self.register_buffer("k_distance", torch.zeros(n_train))
        self.register_buffer("train_lrd", torch.ones(n_train))
        self.train_points: torch.Tensor
        self.k_distance: torch.Tensor
        self.train_lrd: torch.Tensor

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        dist = torch.sqrt(squared_distances(z, self.train_points))
        near, index = torch.topk(dist, self.k, dim=1, largest=False)
        flat = index.reshape(-1)  # Gather on a flat index: the ONNX op TensorRT parses, whatever the batch
        reach = torch.maximum(near, torch.index_select(self.k_distance, 0, flat).reshape(index.shape))
        lrd = 1.0 / (reach.mean(dim=1) + 1e-10)
        return torch.index_select(self.train_lrd, 0, flat).reshape(index.shape).mean(dim=1) / lrd


class ClassicalModel(nn.Module):
    """Embedding (features, standardised) -> scorer; the map is zeros, the score the scorer's."""

    def __init__(self, input_size: tuple[int, int], embedding: Embedding, scorer: nn.Module) -> None:
        super().__init__()
        self.input_size = input_size
        self.embedding = embedding
        self.scorer = scorer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The score stays float32 on the fp16 path: the scorer's sums are what the threshold compares.
        return torch.zeros_like(x[:, :1]), self.scorer(self.embedding(x))


# What a metadata arch may ask for (metadata.json is a file: its counts size the buffers before any weights are
# read, so a wrong or hostile number must be refused, not allocated). Training stays far below these.
LIMITS = {"n_support": 20_000, "n_train": 20_000, "n_trees": 1_000, "n_nodes": 8_192, "n_leaves": 8_192,
          "path_depth": 64, "max_samples": 1_000_000, "n_neighbors": 1_000, "n_features": 65_536}
MAX_ELEMENTS = 1 << 26  # 256 MB of float32 in any one buffer


def _count(arch: dict[str, Any], key: str, default: int = 1) -> int:
    value = arch.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[key]:
        raise ValueError(f"arch {key}: expected an integer 1..{LIMITS[key]}, got {shown(value)}")
    return value


def _check_elements(what: str, *dims: int) -> None:
    if math.prod(dims) > MAX_ELEMENTS:
        raise ValueError(f"arch: {what} would hold {math.prod(dims)} values, more than {MAX_ELEMENTS}")


def _embedding(input_size: tuple[int, int], arch: dict[str, Any]) -> Embedding:
    embedding = Embedding(input_size, arch)
    if "n_features" in arch and _count(arch, "n_features") != embedding.dim:
        raise ValueError(f"arch n_features: {arch['n_features']} does not match the {embedding.dim} features of "
                         f"{arch.get('features', 'pixels')!r}")
    return embedding


def build_ocsvm(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The ocsvm kind's network from its metadata arch (features, n_support)."""
    embedding = _embedding(input_size, {"features": "pixels", **arch})
    n_support = _count(arch, "n_support")
    _check_elements("the support vectors", n_support, embedding.dim)
    return ClassicalModel(input_size, embedding, OCSVMScorer(n_support, embedding.dim))


def build_iforest(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The iforest kind's network from its metadata arch (features, n_trees, n_nodes, n_leaves, ...)."""
    embedding = _embedding(input_size, {"features": "resnet", **arch})
    trees, nodes, leaves, depth = (_count(arch, k) for k in ("n_trees", "n_nodes", "n_leaves", "path_depth"))
    _check_elements("the leaf paths", trees, leaves, depth)
    scorer = IsolationForestScorer(trees, nodes, leaves, depth, _count(arch, "max_samples", 256))
    return ClassicalModel(input_size, embedding, scorer)


def build_lof(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The lof kind's network from its metadata arch (features, n_train, n_neighbors)."""
    embedding = _embedding(input_size, {"features": "resnet", **arch})
    n_train = _count(arch, "n_train")
    _check_elements("the training points", n_train, embedding.dim)
    scorer = LOFScorer(n_train, embedding.dim, _count(arch, "n_neighbors"))
    return ClassicalModel(input_size, embedding, scorer)
