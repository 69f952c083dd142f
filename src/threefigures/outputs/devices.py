"""``bench-devices``: time per training step by model × device × batch size, and its figure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from threefigures.training.bench import measure_devices


def run_device_bench(
    out: str | Path,
    *,
    batch_sizes: Sequence[int] = (64, 128, 256, 512, 1024),
    steps: int = 10,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], str, Path]:
    """Measure every model × device × batch size, print a table, draw the figure."""
    from threefigures.figures import draw_device_bench

    rows, note = measure_devices(batch_sizes=batch_sizes, steps=steps, log=log)
    return rows, note, draw_device_bench(rows, out, note=note)
