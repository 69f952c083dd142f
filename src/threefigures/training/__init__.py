"""Training: ``fit`` (loop.py), evaluation (evaluate.py), devices and process groups
(devices.py), optimizers, schedules, losses and pre-flight checks (optim.py), and the
per-device step timing behind ``bench-devices`` (bench.py, imported on its own)."""

from __future__ import annotations

from threefigures.training.devices import (
    describe_device,
    distributed_info,
    init_distributed,
    resolve_device,
    resolve_precision,
)
from threefigures.training.evaluate import (
    EvalResult,
    evaluate,
    predict_proba,
    to_float_images,
    to_probabilities,
)
from threefigures.training.loop import (
    DIVERGED_FACTOR,
    TABLE_HEADER,
    EpochCallback,
    FitResult,
    History,
    ResumeState,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingMonitor,
    fit,
)
from threefigures.training.optim import (
    check_batch_fits,
    check_loss_fits,
    compute_loss,
    make_optimizer,
    make_scheduler,
)

__all__ = [
    "DIVERGED_FACTOR",
    "TABLE_HEADER",
    "EpochCallback",
    "EvalResult",
    "FitResult",
    "History",
    "ResumeState",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingMonitor",
    "check_batch_fits",
    "check_loss_fits",
    "compute_loss",
    "describe_device",
    "distributed_info",
    "evaluate",
    "fit",
    "init_distributed",
    "make_optimizer",
    "make_scheduler",
    "predict_proba",
    "resolve_device",
    "resolve_precision",
    "to_float_images",
    "to_probabilities",
]
