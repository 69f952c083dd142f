"""Made-up model outputs the figure tests draw: probabilities with a chosen number of
wrong answers."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


def predictions(
    n: int, n_classes: int, rng: np.random.Generator, *, wrong: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return (probs, labels) where the first ``wrong`` items are mispredicted."""
    labels = rng.integers(0, n_classes, size=n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += 6.0
    for i in range(wrong):
        logits[i, (labels[i] + 1) % n_classes] += 12.0
    probs = softmax(logits)
    assert int(np.sum(probs.argmax(axis=1) != labels)) == wrong
    return probs, labels
