"""Every dataset name in one table (no torch: ``threefigures datasets`` stays instant).

Image datasets are read by :mod:`threefigures.data.sources`, sequence datasets by
:mod:`threefigures.data.sequences`; ``folder:PATH`` is any folder of class subfolders.
"""

from __future__ import annotations

from typing import Any

IMAGE_DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "sklearn-digits")
SEQUENCE_DATASETS: tuple[str, ...] = ("names-gender", "names-next", "drug-reviews")
TABLE_DATASETS: tuple[str, ...] = ("breast-cancer",)
FOLDER_PREFIX = "folder:"


def list_datasets() -> list[str]:
    """The names ``--data`` takes, images first."""
    return [*IMAGE_DATASETS, f"{FOLDER_PREFIX}PATH", *SEQUENCE_DATASETS, *TABLE_DATASETS]


def is_sequence_name(name: str) -> bool:
    return name in SEQUENCE_DATASETS


def is_table_name(name: str) -> bool:
    return name in TABLE_DATASETS


#: Where a dataset needs more than the shared defaults to reach its target, what a bare
#: ``train --data NAME`` uses instead: ModelConfig fields by model name, and TrainConfig
#: fields under "train". names-gender with ``--model rnn`` (target 88%): the shared defaults
#: (LSTM, one direction, 3 epochs) scored 86.05%; a bidirectional GRU for 10 epochs 88.57%
#: and 87.98% (seeds 0, 1); for 12 epochs 88.76%, 88.47%, 88.76% (seeds 0-2), 19.5-27.6 s
#: whole process on a 2-core AVX2 EPYC. "train" applies to every model on the dataset (only
#: the rnn reads names); only fields the CLI leaves unset when not given may appear there
#: (today: epochs; tests/data check it).
#:
#: "train:MODEL" holds TrainConfig fields for one model on the dataset. drug-reviews with
#: ``--model minilm`` (target: majority 65.4% + 5 points, ≤ 5 min for 600 reviews on 2 cores):
#: AdamW lr 1e-4, batch 16, 4 epochs scored 72.8% (seed 0; lr 5e-5: 71.0%), ~47 s an epoch on
#: a quiet 2-core AVX2 EPYC (benchmarks/bench_text.py).
DATASET_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "names-gender": {"rnn": {"cell": "gru", "bidirectional": True}, "train": {"epochs": 12}},
    "drug-reviews": {
        "train:minilm": {"epochs": 4, "lr": 1e-4, "optimizer": "adamw", "batch_size": 16},
    },
    # breast-cancer: a binary task, so BCE (and --pos-weight) by default. 3 epochs of 383
    # cases are 36 steps; the Figure 1 MLP (256 hidden) scored 95.07% for 10 epochs and
    # 93.66% for 30 (it overfits: train loss 0.009) over seeds 0-2, on the 142 test cases
    "breast-cancer": {"train": {"loss": "bce", "epochs": 10}},
}

#: The TrainConfig fields a dataset may set for itself: the CLI leaves exactly these unset
#: when they are not given (so a default here cannot override what a user typed).
UNSET_TRAIN_FIELDS = ("epochs", "lr", "optimizer", "batch_size", "loss")


def model_defaults(data: str, model: str) -> dict[str, Any]:
    """The dataset's own ModelConfig defaults for ``model`` (empty: the shared ones)."""
    return dict(DATASET_DEFAULTS.get(data, {}).get(model, {}))


def train_defaults(data: str, model: str | None = None) -> dict[str, Any]:
    """The dataset's own TrainConfig defaults, for every model and then for ``model``
    (empty: the shared ones)."""
    entries = DATASET_DEFAULTS.get(data, {})
    return {**entries.get("train", {}), **entries.get(f"train:{model}", {})}


def describe_defaults(data: str) -> str:
    """``"rnn: cell=gru, bidirectional=True; train: epochs=12"``, or ``""``."""
    parts = [
        f"{key}: " + ", ".join(f"{k}={v}" for k, v in fields.items())
        for key, fields in DATASET_DEFAULTS.get(data, {}).items()
    ]
    return "; ".join(parts)
