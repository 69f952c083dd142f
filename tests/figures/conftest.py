"""Every figure test checks that the drawing closed what it opened (also when it raised):
matplotlib keeps every open figure alive, and a long run would leak them."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def _no_figures_left_open() -> Iterator[None]:
    plt.close("all")
    yield
    assert not plt.get_fignums()
