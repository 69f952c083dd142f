"""Datasets: names → in-memory tensors with class names (images, token sequences, or
tables of features).

The torch-backed names are imported lazily (PEP 562), so ``threefigures.data.names`` (the
dataset-name table) can be read without importing torch, as ``threefigures --help`` does.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from typing_extensions import TypeIs

from threefigures.data.names import (
    SEQUENCE_DATASETS,
    TABLE_DATASETS,
    is_sequence_name,
    is_table_name,
    list_datasets,
)
from threefigures.errors import DataError

if TYPE_CHECKING:
    from threefigures.data.sequences import SequenceDataset
    from threefigures.data.sources import (
        Dataset,
        cache_dir,
        load_dataset,
        make_binary,
        validation_split,
    )
    from threefigures.data.tabular import TabularDataset

#: What ``load_data`` returns: an image dataset, a sequence (token id) dataset or a table.
AnyDataset: TypeAlias = "Dataset | SequenceDataset | TabularDataset"

_FROM_SOURCES = ("Dataset", "cache_dir", "load_dataset", "make_binary", "validation_split")


def __getattr__(name: str) -> Any:
    if name not in _FROM_SOURCES:
        raise AttributeError(f"module 'threefigures.data' has no attribute {name!r}")
    value = getattr(importlib.import_module("threefigures.data.sources"), name)
    globals()[name] = value
    return value


def load_data(name: str, *, data_dir: str | None = None, binary: int | None = None) -> AnyDataset:
    """Any dataset by name: an image :class:`Dataset` (optionally made binary with
    ``binary=K``), a sequence dataset (names, reviews) or a table (breast-cancer)."""
    if is_table_name(name):
        if binary is not None:
            raise DataError(f"--binary applies to image datasets ({name} is binary already)")
        from threefigures.data.tabular import load_table

        return load_table(name)
    if is_sequence_name(name):
        if binary is not None:
            raise DataError("--binary applies to image datasets (names-gender is binary already)")
        from threefigures.data.sequences import load_sequences

        return load_sequences(name)
    from threefigures.data.sources import load_dataset, make_binary

    ds = load_dataset(name, data_dir=data_dir)
    return make_binary(ds, binary) if binary is not None else ds


def is_sequence_data(data: object) -> TypeIs[SequenceDataset]:
    """True for token-sequence datasets (names), which carry per-example lengths.

    Checked by type without importing the sequences module (and its census lists) when no
    sequence dataset was ever loaded.
    """
    module = sys.modules.get("threefigures.data.sequences")
    return module is not None and isinstance(data, module.SequenceDataset)


def is_table_data(data: object) -> TypeIs[TabularDataset]:
    """True for tables of features (breast-cancer), checked like :func:`is_sequence_data`."""
    module = sys.modules.get("threefigures.data.tabular")
    return module is not None and isinstance(data, module.TabularDataset)


__all__ = [
    "SEQUENCE_DATASETS",
    "TABLE_DATASETS",
    "AnyDataset",
    "Dataset",
    "cache_dir",
    "is_sequence_data",
    "is_table_data",
    "list_datasets",
    "load_data",
    "load_dataset",
    "make_binary",
    "validation_split",
]
