"""Datasets: names → in-memory uint8 tensors with class names."""

from threefigures.data.sources import (
    Dataset,
    cache_dir,
    list_datasets,
    load_dataset,
    validation_split,
)

__all__ = ["Dataset", "cache_dir", "list_datasets", "load_dataset", "validation_split"]
