"""Datasets: names → in-memory tensors with class names (images, or token sequences)."""

from __future__ import annotations

from typing import Any

from threefigures.data.sources import (
    Dataset,
    cache_dir,
    list_datasets,
    load_dataset,
    make_binary,
    validation_split,
)
from threefigures.errors import DataError

SEQUENCE_NAMES = ("names-gender", "names-next")


def load_data(name: str, *, data_dir: str | None = None, binary: int | None = None) -> Any:
    """Any dataset by name: an image :class:`Dataset` (optionally made binary with
    ``binary=K``) or, for ``names-gender``/``names-next``, a sequence dataset."""
    if name in SEQUENCE_NAMES:
        if binary is not None:
            raise DataError("--binary applies to image datasets (names-gender is binary already)")
        from threefigures.data.sequences import load_sequences

        return load_sequences(name)
    ds = load_dataset(name, data_dir=data_dir)
    return make_binary(ds, binary) if binary is not None else ds


def is_sequence_data(data: Any) -> bool:
    return hasattr(data, "train_len")


__all__ = [
    "SEQUENCE_NAMES",
    "Dataset",
    "cache_dir",
    "is_sequence_data",
    "list_datasets",
    "load_data",
    "load_dataset",
    "make_binary",
    "validation_split",
]
