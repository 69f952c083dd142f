"""Shared fixtures: tiny synthetic data so most tests run in well under a second."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests never touch the user's cache or store.
os.environ.setdefault("THREEFIGURES_CACHE", str(Path(__file__).parent / ".cache-tests"))


def make_synthetic(n_train: int = 600, n_test: int = 200, classes: int = 10, seed: int = 0):
    """Each class is a bright 6×6 block at its own place, plus noise: learnable in an epoch."""
    from threefigures.data import Dataset

    gen = torch.Generator().manual_seed(seed)

    def part(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % classes
        images = torch.randint(0, 60, (n, 28, 28), generator=gen).float()
        for c in range(classes):
            row, col = 3 + 7 * (c // 4), 3 + 7 * (c % 4)
            images[labels == c, row : row + 6, col : col + 6] += 180
        return images.clamp(0, 255).to(torch.uint8), labels

    train_x, train_y = part(n_train)
    test_x, test_y = part(n_test)
    return Dataset(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=[f"c{i}" for i in range(classes)],
        source="synthetic blocks (tests)",
    )


@pytest.fixture
def synthetic():
    return make_synthetic()


@pytest.fixture
def store(tmp_path):
    from threefigures.store import Store

    return Store(tmp_path / "runs" / "threefigures.db")
