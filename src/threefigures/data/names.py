"""Every dataset name in one table (no torch: ``threefigures datasets`` stays instant).

Image datasets are read by :mod:`threefigures.data.sources`, sequence datasets by
:mod:`threefigures.data.sequences`; ``folder:PATH`` is any folder of class subfolders.
"""

from __future__ import annotations

IMAGE_DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "sklearn-digits")
SEQUENCE_DATASETS: tuple[str, ...] = ("names-gender", "names-next")
FOLDER_PREFIX = "folder:"


def list_datasets() -> list[str]:
    """The names ``--data`` takes, images first."""
    return [*IMAGE_DATASETS, f"{FOLDER_PREFIX}PATH", *SEQUENCE_DATASETS]


def is_sequence_name(name: str) -> bool:
    return name in SEQUENCE_DATASETS
