"""Test examples' representations at each layer, projected to 2-D: classes separating layer
by layer.

Every layer's activations for the same examples are flattened and projected with PCA (the
default: fast and deterministic) or t-SNE (scikit-learn; slower, keeps neighbourhoods). Each
layer also gets a separation score, the silhouette of the classes computed in the layer's
full space (not in the 2-D picture): from −1 to 1, higher means examples sit closer to their
own class than to the others.
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
    """(N, D) → (N, 2) by PCA or t-SNE (scikit-learn)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in PROJECTIONS:
        raise ExplainError(f"unknown projection {method!r}; choose one of {PROJECTIONS}")
    n, dims = features.shape
    if n < 3:
        raise ExplainError(f"a 2-D view needs at least 3 examples, got {n}")
    if dims < 2:  # one number per example (a sigmoid output): pad with zeros
        features = np.concatenate([features, np.zeros((n, 2 - dims), features.dtype)], axis=1)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
        features
    )


def separation(features: np.ndarray, labels: np.ndarray) -> float | None:
    """Silhouette score of the classes in ``features`` (None with fewer than 2 classes)."""
    from sklearn.metrics import silhouette_score

    classes = np.unique(labels)
    if len(classes) < 2 or len(classes) >= len(labels):
        return None
    return float(silhouette_score(features, labels))


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
