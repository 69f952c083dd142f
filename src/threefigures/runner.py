"""The facade the CLI, the web page and Python users call: a run from start to finish
(data → model → fit → store → figures → report) and questions about stored runs.

The work lives below: the run folder and life cycle in :mod:`threefigures.runs`, figures,
report, predictions and explanations in :mod:`threefigures.outputs`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from threefigures.config import RunConfig
from threefigures.data import AnyDataset, is_sequence_data, is_table_data, load_data
from threefigures.errors import CheckpointError, ConfigError, ThreeFiguresError
from threefigures.models import create_model, model_config_for
from threefigures.outputs.explain import Explanation, explain_inputs
from threefigures.outputs.figures import draw_figures, run_extras, write_outputs
from threefigures.outputs.predict import Prediction, predict_images
from threefigures.runs import lifecycle
from threefigures.runs.folder import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    build_model,
    load_model_from_folder,
    read_run_config,
    write_run_config,
)
from threefigures.runs.store import RunRecord, Store
from threefigures.training import (
    EvalResult,
    FitResult,
    History,
    ResumeState,
    TrainingMonitor,
    check_batch_fits,
    check_loss_fits,
    describe_device,
    evaluate,
    fit,
    init_distributed,
    resolve_device,
    resolve_precision,
)

Log = Callable[[str], None]

__all__ = [
    "Explanation",
    "Prediction",
    "RunOutcome",
    "draw_figures",
    "evaluate_run",
    "explain_inputs",
    "inside_run",
    "load_run_model",
    "model_config_for",
    "open_run",
    "plan_run",
    "predict_images",
    "redraw",
    "resume_run",
    "train_run",
]


@dataclass
class RunOutcome:
    run: RunRecord
    fit: FitResult | None
    test: EvalResult
    paths: dict[str, Path]


def load_run_model(
    store: Store, ref: str = "latest"
) -> tuple[nn.Module, RunRecord, RunConfig, list[str]]:
    record = store.resolve(ref)
    model, config, classes = load_model_from_folder(record.run_dir)
    return model, record, config, classes


def _load_run_data(config: RunConfig) -> AnyDataset:
    return load_data(config.data.name, data_dir=config.data.data_dir, binary=config.data.binary)


# --- training runs -------------------------------------------------------------------------


def _run_fit(
    store: Store,
    record: RunRecord,
    model: nn.Module,
    config: RunConfig,
    data: AnyDataset,
    *,
    resume: ResumeState | None,
    progress: bool,
    log: Log,
    process_start: float,
    monitor: TrainingMonitor | None = None,
) -> RunOutcome:
    log(f"run {record.id} · data {data.name} ({len(data.train_y)} train / {len(data.test_y)} test)")
    log(
        f"model {config.model.name} {list(config.model.layers)} · "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    device = resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    log(
        f"device {describe_device(device)} (--device {config.train.device}) · precision {precision}"
    )
    log("epoch  train loss   val acc  seconds")
    with lifecycle.tracked(store, record):
        result = fit(
            model,
            data,
            config.train,
            val_fraction=config.data.val_fraction,
            split_seed=config.data.split_seed,
            resume=resume,
            on_epoch_end=lifecycle.epoch_saver(store, record),
            progress=progress,
            log=log,
            monitor=monitor,
        )
    assert result.test is not None
    record = store.get(record.id)
    timings = {
        "train_seconds": result.train_seconds,
        "epoch_seconds": sum(result.history.epoch_seconds),
        "process_seconds_before_figures": time.perf_counter() - process_start,
    }
    extra = run_extras(model, data, result)
    paths = write_outputs(
        record, model, config, data, result.history, result.test, timings, store, extra
    )
    record = lifecycle.finish_run(
        store,
        record,
        test_accuracy=result.test.accuracy,
        seconds=time.perf_counter() - process_start,
        device=result.device,
        info={**extra, "timings": timings},
    )
    paths["weights"] = record.run_dir / WEIGHTS_FILE
    paths["config"] = record.run_dir / CONFIG_FILE
    return RunOutcome(record, result, result.test, paths)


def plan_run(
    config: RunConfig, data: AnyDataset | None = None, *, world: int = 1
) -> tuple[RunConfig, AnyDataset]:
    """Check a run's config against its data before anything is written: the dataset
    loads, the model fits its inputs and classes, the loss its task, the batch its size.
    Returns the config completed from the data (input shape, classes, normalisation)."""
    config.validate()
    data = data or _load_run_data(config)
    config = dataclasses.replace(
        config, model=model_config_for(data, config.model, loss=config.train.loss)
    )
    check_loss_fits(config.train.loss, data.num_classes, data.task)
    if config.train.threshold != 0.5 and data.num_classes != 2:
        raise ConfigError(
            f"--threshold applies to binary tasks; {data.name} has {data.num_classes} classes"
        )
    n = len(data.train_y)
    check_batch_fits(config.train.batch_size, n - round(config.data.val_fraction * n), world)
    return config, data


def open_run(
    store: Store, config: RunConfig, data: AnyDataset, *, out_dir: str | Path | None = None
) -> RunRecord:
    """A planned run's folder, ``config.json`` and "running" row (see :func:`plan_run`).
    Training it is :func:`resume_run` from epoch 0, in this process or another."""
    return lifecycle.start_run(
        store,
        config,
        data_name=data.name,
        classes=data.classes,
        info={"classes": data.classes, "data": data.summary()},
        out_dir=out_dir,
    )


def train_run(
    config: RunConfig | None = None,
    *,
    store: Store | None = None,
    out_dir: str | Path | None = None,
    data: AnyDataset | None = None,
    progress: bool = False,
    log: Log | None = None,
    process_start: float | None = None,
    monitor: TrainingMonitor | None = None,
) -> RunOutcome | None:
    """Train a new run, storing its checkpoints, metrics, figures and report.

    Under torchrun every rank trains (DistributedDataParallel); only rank 0 touches the
    store and writes files, and only rank 0 gets a :class:`RunOutcome` (others: None).
    """
    process_start = process_start if process_start is not None else time.perf_counter()
    log = log or (lambda _m: None)
    rank, world = init_distributed()
    # Validate everything that can fail before a run row or folder exists.
    config, data = plan_run(config or RunConfig(), data, world=world)
    torch.manual_seed(config.train.seed)
    model = create_model(config.model.name, config.model)
    if rank != 0:  # a worker: train in step with rank 0, write nothing
        fit(
            model,
            data,
            config.train,
            val_fraction=config.data.val_fraction,
            split_seed=config.data.split_seed,
        )
        return None
    store = store or Store()
    record = open_run(store, config, data, out_dir=out_dir)
    return _run_fit(
        store,
        record,
        model,
        config,
        data,
        resume=None,
        progress=progress,
        log=log,
        process_start=process_start,
        monitor=monitor,
    )


def resume_run(
    ref: str,
    *,
    store: Store | None = None,
    progress: bool = False,
    log: Log | None = None,
    epochs: int | None = None,
    monitor: TrainingMonitor | None = None,
) -> RunOutcome:
    """Continue a run from its last finished epoch (``epochs`` may extend the plan); a run
    with no finished epoch (just opened by :func:`open_run`, or killed in its first
    epoch) trains from the start."""
    process_start = time.perf_counter()
    log = log or (lambda _m: None)
    store = store or Store()
    record = store.get(ref) if ref != "latest" else lifecycle.latest_unfinished(store)
    if record.status == "finished" and (epochs is None or epochs <= record.epochs_planned):
        raise ThreeFiguresError(
            f"run {record.id} already finished all {record.epochs_planned} epochs "
            "(pass --epochs N to train it further)"
        )
    config, classes = read_run_config(record.run_dir)
    if epochs is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
        config.validate()
    data = _load_run_data(config)
    if data.classes != classes:
        raise CheckpointError(f"run {record.id}: its dataset's classes changed since training")
    model = build_model(config.model, record.run_dir)
    resume = lifecycle.resume_state(model, record.run_dir)
    if resume is None:  # killed before the first epoch finished: start over in the same run
        torch.manual_seed(config.train.seed)
        model = create_model(config.model.name, config.model)
        resume = ResumeState(0, History())
    if resume.epochs_done > config.train.epochs:
        raise ThreeFiguresError(
            f"run {record.id} has {resume.epochs_done} finished epochs already, more than "
            f"the {config.train.epochs} asked for"
        )
    store.truncate_after(record.id, resume.epochs_done)
    store.set_status(record.id, "running", epochs_planned=config.train.epochs)
    write_run_config(record.run_dir, record.id, config, classes)
    if resume.epochs_done == config.train.epochs:
        # stopped after its last checkpoint but before its test, figures and report
        log(f"run {record.id}: all {resume.epochs_done} epochs saved; finishing it")
    else:
        log(f"resuming run {record.id} after epoch {resume.epochs_done}")
    return _run_fit(
        store,
        store.get(record.id),
        model,
        config,
        data,
        resume=resume,
        progress=progress,
        log=log,
        process_start=process_start,
        monitor=monitor,
    )


# --- stored runs: redraw, evaluate ---------------------------------------------------------


def redraw(ref: str = "latest", *, store: Store | None = None) -> dict[str, Path]:
    """Redraw the figures and report of a stored run from its weights and metrics."""
    store = store or Store()
    model, record, config, classes = load_run_model(store, ref)
    data = _load_run_data(config)
    test = evaluate(
        model,
        data.test_x,
        data.test_y,
        num_classes=len(classes),
        loss=config.train.loss,
        pos_weight=config.train.pos_weight,
        threshold=config.train.threshold,
    )
    timings = dict(record.info.get("timings", {}))
    keep: tuple[str, ...] = ("device", "precision", "sizes", "majority_baseline", "notes")
    keep += ("binary_metrics", "baselines", "positive_class", "disclaimer")
    extra: dict[str, Any] = {k: record.info[k] for k in keep if k in record.info}
    history = lifecycle.history_from_store(store, record.id)
    return write_outputs(record, model, config, data, history, test, timings, store, extra)


def evaluate_run(
    ref: str = "latest",
    data_name: str | None = None,
    *,
    data_dir: str | None = None,
    split: str = "test",
    store: Store | None = None,
) -> tuple[EvalResult, RunRecord, list[str], AnyDataset]:
    """Score a stored model on a dataset's ``test``, ``train`` or ``all`` images (or a
    table's cases)."""
    store = store or Store()
    model, record, config, classes = load_run_model(store, ref)
    data = _load_run_data(config) if data_name is None else load_data(data_name, data_dir=data_dir)
    if is_sequence_data(data):
        raise ConfigError("evaluate scores image datasets; a sequence run's report has its scores")
    if data.num_classes != len(classes):
        raise ConfigError(
            f"run {record.id} predicts {len(classes)} classes "
            f"but {data.name} has {data.num_classes}"
        )
    if is_table_data(data) != (len(config.model.input_shape) == 1):
        raise ConfigError(f"run {record.id} and {data.name} do not read the same kind of input")
    if not is_table_data(data) and data.image_shape != tuple(config.model.input_shape):
        raise ConfigError(
            f"{data.name} images are {data.image_shape}, "
            f"the model expects {config.model.input_shape}"
        )
    if split == "test":
        x, y = data.test_x, data.test_y
    elif split == "train":
        x, y = data.train_x, data.train_y
    elif split == "all":
        x, y = torch.cat([data.train_x, data.test_x]), torch.cat([data.train_y, data.test_y])
    else:
        raise ConfigError(f"unknown split {split!r}; choose test, train or all")
    train = config.train
    scores = evaluate(
        model,
        x,
        y,
        num_classes=len(classes),
        loss=train.loss,
        pos_weight=train.pos_weight,
        threshold=train.threshold,
    )
    return scores, record, classes, data


# --- looking inside stored runs ---------------------------------------------------------------


def inside_run(
    ref: str = "latest",
    *,
    store: Store | None = None,
    input_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    method: str | None = None,
    projection: str = "pca",
    sample: int = 1000,
) -> tuple[Any, RunRecord]:
    """Every "Looking inside" figure for a stored run (``threefigures inside``).

    ``input_path``: an image of the user's to follow through the network (preprocessed as
    ``predict`` does); default the first test example. Written to ``out_dir`` (default the
    run's ``inside/`` folder).
    """
    from threefigures.data.preprocess import preprocess_path
    from threefigures.outputs.inside import inside_figures

    store = store or Store()
    model, record, config, _classes = load_run_model(store, ref)
    data = _load_run_data(config)
    image = name = None
    if input_path is not None:
        if is_sequence_data(data) or is_table_data(data):
            raise ConfigError(f"--input takes an image; this run reads {data.name}")
        image = preprocess_path(input_path).image
        name = Path(input_path).name
    folder = Path(out_dir) if out_dir is not None else record.run_dir / "inside"
    result = inside_figures(
        model,
        data,
        folder,
        input_image=image,
        input_name=name or "",
        method=method,
        projection=projection,
        sample=sample,
    )
    return result, record
