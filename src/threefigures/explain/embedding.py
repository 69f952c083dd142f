"""Test examples' representations at each layer, projected to 2-D: classes separating layer
by layer.

Every layer's activations for the same examples are flattened and projected with PCA (the
default: fast and deterministic) or t-SNE (scikit-learn; slower, keeps neighbourhoods). Each
layer also gets a separation score, the silhouette of the classes computed in the layer's
full space (not in the 2-D picture): from −1 to 1, higher means examples sit closer to their
own class than to the others.

PCA (an SVD in torch) and the silhouette (pairwise distances in torch) are computed with
torch rather than scikit-learn for one reason: importing scikit-learn's modules costs ~2 s
of the report's 5 s budget on this machine. Both are checked against scikit-learn's
``PCA`` and ``silhouette_score`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from threefigures.explain.attribution import ExplainError
from threefigures.explain.internals import layer_activations

PROJECTIONS = ("pca", "tsne")


@dataclass
class LayerEmbedding:
    name: str
    coords: np.ndarray  # (N, 2)
    separation: float | None  # silhouette score in the layer's full space


def project(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) → (N, 2) by PCA (torch SVD, signs fixed so the result is deterministic) or
    t-SNE (scikit-learn)."""
    if method not in PROJECTIONS:
        raise ExplainError(f"unknown projection {method!r}; choose one of {PROJECTIONS}")
    n, dims = features.shape
    if n < 3:
        raise ExplainError(f"a 2-D view needs at least 3 examples, got {n}")
    if dims < 2:  # one number per example (a sigmoid output): pad with zeros
        features = np.concatenate([features, np.zeros((n, 2 - dims), features.dtype)], axis=1)
    if method == "pca":
        return _pca2(features)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
        features
    )


def _pca2(features: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    x = x - x.mean(dim=0)  # (N, D) centred
    u, s, _vh = torch.linalg.svd(x, full_matrices=False)
    coords = u[:, :2] * s[:2]  # (N, 2): the data on its two main axes
    # an SVD's signs are arbitrary: make each axis' largest coordinate positive (as sklearn)
    signs = torch.sign(coords[coords.abs().argmax(dim=0), torch.arange(2)])
    signs[signs == 0] = 1
    return (coords * signs).numpy()


def separation(features: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette of the examples in ``features`` by class (Rousseeuw 1987): for each
    example, (b − a) / max(a, b) with a its mean distance to its own class and b to the
    nearest other class. None with fewer than 2 classes or one example per class."""
    labels = np.asarray(labels)
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2 or len(classes) >= len(labels):
        return None
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    dist = torch.cdist(x, x)  # (N, N)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(index), len(classes)).double()
    counts = onehot.sum(dim=0)  # (K,)
    mean_to = dist @ onehot  # (N, K): summed distance to each class
    own = torch.from_numpy(index)
    rows = torch.arange(len(own))
    own_count = counts[own] - 1  # the example itself does not count
    a = mean_to[rows, own] / own_count.clamp(min=1)
    others = mean_to / counts
    others[rows, own] = float("inf")
    b = others.min(dim=1).values
    s = (b - a) / torch.maximum(a, b)
    s = torch.where(own_count > 0, s, torch.zeros_like(s))  # singletons score 0 (as sklearn)
    s = torch.nan_to_num(s, nan=0.0)
    return float(s.mean())


def layer_embeddings(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    *,
    method: str = "pca",
    lengths: torch.Tensor | None = None,
    seed: int = 0,
) -> list[LayerEmbedding]:
    """One 2-D projection per layer (input to output) of the same examples."""
    if method not in PROJECTIONS:
        raise ExplainError(f"unknown projection {method!r}; choose one of {PROJECTIONS}")
    labels = np.asarray(labels)
    out = []
    for name, acts in layer_activations(model, inputs, lengths=lengths):
        if acts.dim() == 3 and name == "states":  # (B, T, D*H): per step; use the summary
            continue
        features = acts.float().reshape(acts.shape[0], -1).cpu().numpy()  # (N, D)
        out.append(
            LayerEmbedding(
                name=name,
                coords=project(features, method, seed),
                separation=separation(features, labels),
            )
        )
    return out
