"""Figure 10's medical column: a network that reads measurements of a breast mass and answers
benign or malignant, judged as a screening test is (sensitivity, specificity, ROC AUC) beside
logistic regression, an SVM and a random forest on the same split.

It also makes the article's Figure 5 remark concrete ("BCE penalizes false positives and false
negatives differently"): one network is trained per BCE ``pos_weight`` W, and the missed
cancers and false alarms of each are counted on the same test cases.

A teaching example on a public research data set, not a diagnostic tool.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from threefigures.config import TrainConfig
from threefigures.data.tabular import BREAST_CANCER, TabularDataset, load_table
from threefigures.errors import DataError
from threefigures.models import create_model, default_config, model_config_for
from threefigures.outputs.tabular import DISCLAIMER, binary_counts, draw_tradeoff
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.store import Store
from threefigures.training import fit

#: pos_weight values for the sweep (full run) and for --quick.
WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
QUICK_WEIGHTS = (0.5, 1.0, 4.0)
FILE = "medical.json"

Log = Callable[[str], None]


def weight_sweep(
    data: TabularDataset, weights: tuple[float, ...], *, epochs: int, seed: int = 0
) -> dict[float, tuple[int, int]]:
    """pos_weight W → (missed positives, false alarms) on the test cases at threshold 0.5:
    one Figure 1 MLP per W, the same seed, data and epochs, only the loss's weight differs."""
    out: dict[float, tuple[int, int]] = {}
    for w in weights:
        torch.manual_seed(seed)
        config = model_config_for(data, default_config("mlp"), loss="bce")
        model = create_model(config)
        train = TrainConfig(epochs=epochs, loss="bce", pos_weight=w, seed=seed, device="cpu")
        result = fit(model, data, train)
        assert result.test is not None
        counts = binary_counts(result.test.labels, result.test.probabilities[:, data.positive], 0.5)
        out[w] = (counts["fn"], counts["fp"])
    return out


def run_medical(out: Path, store: Store, *, quick: bool = False, log: Log = print) -> dict:
    """Train the breast-cancer run (its figures and report in the store), sweep pos_weight,
    draw the trade-off, and write ``medical.json``; return its content."""
    from sklearn.metrics import roc_curve

    from threefigures.runner import train_run
    from threefigures.runs.options import run_config_from_options

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"data": BREAST_CANCER, "device": "cpu"}
    if quick:
        options["epochs"] = 3
    config = run_config_from_options(options)
    log(f"medical: training {BREAST_CANCER} ({config.train.epochs} epochs, BCE)")
    outcome = train_run(config, store=store)
    assert outcome is not None
    record = outcome.run
    data = load_table(BREAST_CANCER)
    weights = QUICK_WEIGHTS if quick else WEIGHTS
    log(f"medical: one network per pos_weight {', '.join(f'{w:g}' for w in weights)}")
    sweep = weight_sweep(data, weights, epochs=config.train.epochs, seed=config.train.seed)
    tradeoff = draw_tradeoff(
        data, outcome.test, out / "medical-tradeoff.png", config.train.threshold, sweep
    )
    p = outcome.test.probabilities[:, data.positive]
    fpr, tpr, _ = roc_curve(outcome.test.labels, p)
    info = record.info
    # the run's report (self-contained) and Figure 3 beside the numbers, so the folder can be
    # published without the store
    shutil.copyfile(record.run_dir / "report.html", out / "report.html")
    shutil.copyfile(record.run_dir / "figure3.png", out / "figure3.png")
    summary = {
        "application": "medical",
        "data": BREAST_CANCER,
        "run": record.id,
        "report": "report.html",
        "figure3": "figure3.png",
        "tradeoff": tradeoff.name,
        "test_cases": len(outcome.test.labels),
        "positive_class": info["positive_class"],
        "network": info["binary_metrics"],
        "baselines": info["baselines"],
        "majority_baseline": info["majority_baseline"],
        "roc": {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]},
        "pos_weight_sweep": [
            {"pos_weight": w, "missed": fn, "false_alarms": fp} for w, (fn, fp) in sweep.items()
        ],
        "epochs": config.train.epochs,
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "disclaimer": DISCLAIMER,
    }
    atomic_write_text(out / FILE, json.dumps(summary, indent=2))
    return summary


def read_medical(folder: Path) -> dict:
    """``medical.json`` written by :func:`run_medical` (for ``applications --reuse``)."""
    path = folder / FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no medical run in {folder} ({FILE} is missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is damaged: {exc}") from None
    needed = ("network", "baselines", "roc", "pos_weight_sweep", "majority_baseline")
    if not isinstance(summary, dict) or any(k not in summary for k in needed):
        raise DataError(f"{path} is damaged: it lacks the medical numbers")
    return summary


def roc_arrays(summary: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(summary["roc"]["fpr"]), np.asarray(summary["roc"]["tpr"])


__all__ = ["WEIGHTS", "read_medical", "roc_arrays", "run_medical", "weight_sweep"]
