"""Error analysis from a test evaluation: row-normalised confusion, the most confident
mistakes ("top losses")."""

from __future__ import annotations

import numpy as np


def normalise_rows(confusion: np.ndarray) -> np.ndarray:
    """Each row as shares of its true class (rows with no examples stay 0)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def example_losses(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example: −log p(true class)."""
    p_true = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(p_true, 1e-12, 1.0))


def top_losses(probabilities: np.ndarray, labels: np.ndarray, k: int = 12) -> np.ndarray:
    """Indices of the ``k`` most confidently wrong examples, worst first: misclassified ones
    ordered by their loss (the lower the probability given to the true class, the worse)."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    losses = example_losses(probabilities, labels)[wrong]
    order = np.argsort(-losses, kind="stable")
    return wrong[order[:k]]


def fixed_sample(n: int, k: int, seed: int = 0) -> np.ndarray:
    """``k`` of ``n`` indices (all of them if fewer), drawn once with ``seed`` and sorted:
    the same test examples in every figure and every redraw."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))
