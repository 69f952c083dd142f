"""A run from start to finish: data → model → fit → store → figures → report.

This is what the CLI's ``demo``, ``train``, ``figures``, ``evaluate`` and ``predict``
call; it is also the Python API for stored runs.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.checkpoint import (
    atomic_write_text,
    load_train_state,
    load_weights,
    save_train_state,
    save_weights,
)
from threefigures.config import ModelConfig, RunConfig
from threefigures.data import Dataset, is_sequence_data, load_data
from threefigures.errors import CheckpointError, ConfigError, ThreeFiguresError
from threefigures.models import create_model
from threefigures.store import RunRecord, Store
from threefigures.training import (
    EvalResult,
    FitResult,
    History,
    ResumeState,
    TrainingDiverged,
    TrainingInterrupted,
    check_loss_fits,
    describe_device,
    evaluate,
    fit,
    init_distributed,
    predict_proba,
    resolve_device,
    resolve_precision,
)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "train_state.safetensors"
FIGURE3_SAMPLES = 24

Log = Callable[[str], None]


def model_config_for(
    data: Any, config: ModelConfig | None = None, *, loss: str = "ce"
) -> ModelConfig:
    """Fit a model config to a dataset: input shape, class count and pixel statistics
    (images), or vocabulary and per-step output (sequences). BCE gets one sigmoid output."""
    config = config or ModelConfig()
    outputs = 1 if loss == "bce" else data.num_classes
    if is_sequence_data(data):
        return dataclasses.replace(
            config,
            input_shape=(1, 1, int(data.train_x.shape[1])),
            num_classes=outputs,
            vocab_size=len(data.vocab),
            sequence_output=data.task == "next",
        )
    pixels = data.train_x.float().div_(255.0)
    return dataclasses.replace(
        config,
        input_shape=data.image_shape,
        num_classes=outputs,
        input_mean=round(float(pixels.mean()), 6),
        input_std=round(float(pixels.std()), 6),
    )


@dataclass
class RunOutcome:
    run: RunRecord
    fit: FitResult | None
    test: EvalResult
    paths: dict[str, Path]


def versions() -> dict[str, str]:
    """Library versions from package metadata (no imports: the report stays fast)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in (
        "threefigures",
        "torch",
        "torchvision",
        "numpy",
        "scikit-learn",
        "matplotlib",
        "safetensors",
        "pillow",
        "mlxtend",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    out["platform"] = platform.platform()
    out["processor"] = platform.processor() or platform.machine()
    out["cpu threads"] = str(torch.get_num_threads())
    return out


def write_run_config(folder: Path, run_id: str, config: RunConfig, classes: list[str]) -> None:
    """``config.json``: the run config and class names, the format ``read_run_config`` reads."""
    payload = {"format": 1, "run_id": run_id, "run": config.to_dict(), "classes": classes}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2))


def read_run_config(folder: Path) -> tuple[RunConfig, list[str]]:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: the run's folder is missing (deleted or moved?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(raw, dict) or "run" not in raw or "classes" not in raw:
        raise CheckpointError(f"{path}: not a threefigures run config (needs 'run' and 'classes')")
    classes = raw["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{path}: 'classes' must be a list of strings")
    try:
        config = RunConfig.from_dict(raw["run"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    binary_sigmoid = config.model.num_classes == 1 and len(classes) == 2  # BCE: one output
    if len(classes) != config.model.num_classes and not binary_sigmoid:
        raise CheckpointError(
            f"{path}: {len(classes)} class names for a model with "
            f"{config.model.num_classes} outputs"
        )
    return config, classes


def load_model_from_folder(
    folder: Path, device: str = "cpu"
) -> tuple[nn.Module, RunConfig, list[str]]:
    """Rebuild a model from ``config.json`` and load ``model.safetensors`` (no pickle)."""
    config, classes = read_run_config(folder)
    try:
        model = create_model(config.model.name, config.model)
    except ConfigError as exc:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {exc}") from None
    load_weights(model, folder / WEIGHTS_FILE)
    model.to(device).eval()
    return model, config, classes


def load_run_model(
    store: Store, ref: str = "latest"
) -> tuple[nn.Module, RunRecord, RunConfig, list[str]]:
    record = store.resolve(ref)
    model, config, classes = load_model_from_folder(record.run_dir)
    return model, record, config, classes


# --- figures and report --------------------------------------------------------------------


def structure_of(model: nn.Module) -> list[Any]:
    """Figure 1's parts: an MLP's layers (LayerSpec), or any other model's blocks
    (BlockSpec, from the model's own ``describe()``)."""
    from threefigures.figures import LayerSpec
    from threefigures.models import MLP

    if not isinstance(model, MLP):
        from threefigures.figures import BlockSpec

        describe = getattr(model, "describe", None)
        if describe is None:
            raise ThreeFiguresError(f"no structure drawing for {type(model).__name__}")
        # variable-length sequences: draw the longest length the data holds
        longest = int(getattr(model, "config", ModelConfig()).input_shape[-1])
        return [
            BlockSpec(
                name=str(b["name"]),
                kind=str(b["kind"]),
                out_shape=tuple(longest if d is None else int(d) for d in b["out_shape"]),
                params=int(b["params"]),
                detail=str(b.get("detail", "")),
            )
            for b in describe()
        ]
    linears = model.linear_layers()
    specs = [LayerSpec("Input", model.in_features, None, 0)]
    for i, layer in enumerate(linears[:-1], start=1):
        name = "Hidden" if len(linears) == 2 else f"Hidden {i}"
        params = sum(p.numel() for p in layer.parameters())
        specs.append(LayerSpec(name, layer.out_features, model.config.activation, params))
    out = linears[-1]
    specs.append(
        LayerSpec("Output", out.out_features, "softmax", sum(p.numel() for p in out.parameters()))
    )
    return specs


def structure_rows(structure: list[Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table under Figure 1, for layers or blocks."""
    from threefigures.figures import LayerSpec

    if structure and isinstance(structure[0], LayerSpec):
        header = ("Layer", "Number of Neurons", "Activation", "Parameters")
        return header, [
            (s.name, f"{s.units:,}", s.activation or "—", f"{s.params:,}") for s in structure
        ]
    header = ("Block", "Output shape", "Detail", "Parameters")
    return header, [
        (b.name, "×".join(str(d) for d in b.out_shape), b.detail or b.kind, f"{b.params:,}")
        for b in structure
    ]


def _draw_figure1(model: nn.Module, path: Path, subtitle: str) -> Path:
    from threefigures.figures import LayerSpec, draw_structure

    structure = structure_of(model)
    if structure and isinstance(structure[0], LayerSpec):
        return draw_structure(structure, path, subtitle=subtitle)
    from threefigures.figures import draw_blocks

    return draw_blocks(structure, path, subtitle=subtitle)


def _draw_figure3(model: nn.Module, data: Any, test: EvalResult, path: Path) -> Path:
    from threefigures.figures import draw_inference

    if is_sequence_data(data) and data.task == "next":
        from threefigures.figures import draw_generated
        from threefigures.generate import sample_names

        gen = torch.Generator().manual_seed(0)
        names = sample_names(model, data.vocab, n=24, temperature=0.8, generator=gen)
        return draw_generated(
            names, path, title="Figure 3 — names the model wrote", temperature=0.8
        )
    idx = figure3_sample(len(test.labels), k=16 if is_sequence_data(data) else FIGURE3_SAMPLES)
    if is_sequence_data(data):
        from threefigures.figures import draw_sequence_inference

        return draw_sequence_inference(
            [data.texts_test[i] for i in idx],
            test.probabilities[idx],
            data.classes,
            path,
            labels=test.labels[idx],
            title=f"Figure 3 — inference on {len(idx)} test names never used in training",
        )
    return draw_inference(
        data.test_x[torch.from_numpy(idx)].numpy(),
        test.probabilities[idx],
        data.classes,
        path,
        labels=test.labels[idx],
        title=f"Figure 3 — inference on {len(idx)} test images never used in training",
    )


def figure3_sample(n_test: int, k: int = FIGURE3_SAMPLES, seed: int = 0) -> np.ndarray:
    """A fixed random sample of test indices (never training data) for Figure 3."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(k, n_test), replace=False))


def write_outputs(
    record: RunRecord,
    model: nn.Module,
    config: RunConfig,
    data: Any,
    history: History,
    test: EvalResult,
    timings: dict[str, float],
    store: Store | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Draw the three figures and write ``report.html`` (its confusion matrix is an HTML
    heat table: the numbers themselves, and no second of matplotlib per run)."""
    from threefigures.figures import TrainingHistory, draw_training
    from threefigures.report import write_report

    folder = record.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    params = sum(p.numel() for p in model.parameters())
    paths: dict[str, Path] = {}
    paths["figure1"] = _draw_figure1(
        model, folder / "figure1.png", f"run {record.id} · {config.model.name} · data {data.name}"
    )
    paths["figure2"] = draw_training(
        TrainingHistory(
            batch_epoch=history.batch_epoch,
            batch_loss=history.batch_loss,
            epoch=history.epoch,
            epoch_loss=history.epoch_loss,
            val_accuracy=history.val_accuracy,
            val_loss=history.val_loss,
        ),
        folder / "figure2.png",
        title=f"Figure 2 — training on {data.name} ({len(history.epoch)} epochs)",
    )
    paths["figure3"] = _draw_figure3(model, data, test, folder / "figure3.png")
    timings = {**timings, "figures_seconds": time.perf_counter() - started}
    inside = _inside_for_report(model, data, test, folder / "inside")
    if inside is not None:
        timings["looking_inside_seconds"] = inside.seconds
        paths.update(inside.paths())
    paths["report"] = write_report(
        folder / "report.html",
        record=record,
        config=config,
        data=data.summary(),
        history=history,
        test=test,
        classes=data.classes,
        figures={k: paths[k] for k in ("figure1", "figure2", "figure3")},
        timings=timings,
        versions=versions(),
        params=params,
        structure=structure_rows(structure_of(model)),
        extra=extra or {},
        inside=[] if inside is None else inside.figures,
    )
    if store is not None:
        for kind, path in paths.items():
            store.add_artifact(record.id, kind, path)
    return paths


#: Test examples in the report's embedding view: small, so the section costs seconds.
REPORT_INSIDE_SAMPLE = 200


def _inside_for_report(model: nn.Module, data: Any, test: EvalResult, folder: Path) -> Any:
    """The report's "Looking inside" figures, on a fixed small sample; ``None`` for a model
    these views do not cover (a failure here must not cost the run its report)."""
    from threefigures.looking_inside import inside_figures

    try:
        return inside_figures(
            model, data, folder, test=test, sample=REPORT_INSIDE_SAMPLE, confusion_figure=False
        )
    except ThreeFiguresError:
        return None


# --- training runs -------------------------------------------------------------------------


def _epoch_saver(store: Store, record: RunRecord, classes: list[str], log: Log) -> Any:
    folder = record.run_dir

    def on_epoch_end(
        model: nn.Module, optimizer: Any, scheduler: Any, history: History, epoch: int
    ) -> None:
        # Weights first, then the full training state, then the store row: whatever the
        # store says is finished is on disk.
        save_weights(model, folder / WEIGHTS_FILE)
        info = {"epochs_done": epoch, "history": history.to_dict()}
        save_train_state(folder / STATE_FILE, model, optimizer, scheduler, info)
        start = len(history.batch_loss) - sum(1 for e in history.batch_epoch if e > epoch - 1)
        batches = [
            (start + i, history.batch_epoch[start + i], history.batch_loss[start + i])
            for i in range(len(history.batch_loss) - start)
        ]
        store.record_epoch(
            record.id,
            epoch=epoch,
            train_loss=history.epoch_loss[-1],
            val_loss=history.val_loss[-1],
            val_accuracy=history.val_accuracy[-1],
            seconds=history.epoch_seconds[-1],
            batches=batches,
        )

    return on_epoch_end


def _run_fit(
    store: Store,
    record: RunRecord,
    model: nn.Module,
    config: RunConfig,
    data: Dataset,
    *,
    resume: ResumeState | None,
    progress: bool,
    log: Log,
    process_start: float,
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
    try:
        result = fit(
            model,
            data,
            config.train,
            val_fraction=config.data.val_fraction,
            split_seed=config.data.split_seed,
            resume=resume,
            on_epoch_end=_epoch_saver(store, record, data.classes, log),
            progress=progress,
            log=log,
        )
    except TrainingInterrupted as exc:
        store.set_status(record.id, "interrupted", error=str(exc))
        raise ThreeFiguresError(
            f"interrupted: run {record.id} saved after {exc.epochs_done} epoch(s); "
            f"continue with `threefigures train --resume {record.id}`"
        ) from None
    except TrainingDiverged as exc:
        store.set_status(record.id, "failed", error=str(exc))
        raise
    except BaseException as exc:
        store.set_status(record.id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
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
    total = time.perf_counter() - process_start
    store.set_status(
        record.id,
        "finished",
        test_accuracy=result.test.accuracy,
        seconds=total,
        device=result.device,
        info={**record.info, **extra, "timings": timings},
    )
    paths["weights"] = record.run_dir / WEIGHTS_FILE
    paths["config"] = record.run_dir / CONFIG_FILE
    return RunOutcome(store.get(record.id), result, result.test, paths)


def run_extras(model: nn.Module, data: Any, result: FitResult) -> dict[str, Any]:
    """What the report says beyond the figures: device, sizes, history notes, baselines."""
    extra: dict[str, Any] = {
        "device": result.device,
        "precision": result.precision,
        "sizes": result.sizes,
        "world_size": result.world_size,
        "ranks_agree": result.ranks_agree,
        "stopped_early": result.stopped_early,
    }
    import sys

    history_note = getattr(sys.modules.get(type(model).__module__), "HISTORY", None)
    if history_note:
        extra["notes"] = history_note
    if is_sequence_data(data):
        from threefigures.data.sequences import majority_baseline

        extra["majority_baseline"] = majority_baseline(data)
    return extra


def train_run(
    config: RunConfig | None = None,
    *,
    store: Store | None = None,
    out_dir: str | Path | None = None,
    data: Any = None,
    progress: bool = False,
    log: Log | None = None,
    process_start: float | None = None,
) -> RunOutcome | None:
    """Train a new run, storing its checkpoints, metrics, figures and report.

    Under torchrun every rank trains (DistributedDataParallel); only rank 0 touches the
    store and writes files, and only rank 0 gets a :class:`RunOutcome` (others: None).
    """
    process_start = process_start if process_start is not None else time.perf_counter()
    config = config or RunConfig()
    config.validate()
    log = log or (lambda _m: None)
    rank, world = init_distributed()
    data = data or load_data(
        config.data.name, data_dir=config.data.data_dir, binary=config.data.binary
    )
    config = dataclasses.replace(
        config, model=model_config_for(data, config.model, loss=config.train.loss)
    )
    # Validate everything that can fail before a run row or folder exists.
    check_loss_fits(config.train.loss, data.num_classes, getattr(data, "task", "classify"))
    n = len(data.train_y)
    n_local = (n - round(config.data.val_fraction * n)) // world
    if config.train.batch_size > n_local:
        raise ConfigError(
            f"batch size {config.train.batch_size} is larger than the {n_local} training examples"
        )
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
    run_id = store.new_run_id()
    folder = Path(out_dir) if out_dir is not None else store.root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    write_run_config(folder, run_id, config, data.classes)
    record = store.create_run(
        config=config.to_dict(),
        data_name=data.name,
        model_name=config.model.name,
        epochs=config.train.epochs,
        run_dir=folder.resolve(),
        info={"classes": data.classes, "data": data.summary()},
        run_id=run_id,
    )
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
    )


def resume_run(
    ref: str,
    *,
    store: Store | None = None,
    progress: bool = False,
    log: Log | None = None,
    epochs: int | None = None,
) -> RunOutcome:
    """Continue a run from its last finished epoch (``epochs`` may extend the plan)."""
    process_start = time.perf_counter()
    log = log or (lambda _m: None)
    store = store or Store()
    record = store.get(ref) if ref != "latest" else _latest_unfinished(store)
    if record.status == "finished" and (epochs is None or epochs <= record.epochs_planned):
        raise ThreeFiguresError(
            f"run {record.id} already finished all {record.epochs_planned} epochs "
            "(pass --epochs N to train it further)"
        )
    config, classes = read_run_config(record.run_dir)
    if epochs is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
        config.validate()
    data = load_data(config.data.name, data_dir=config.data.data_dir, binary=config.data.binary)
    if data.classes != classes:
        raise CheckpointError(f"run {record.id}: its dataset's classes changed since training")
    model = create_model(config.model.name, config.model)
    state_path = record.run_dir / STATE_FILE
    if state_path.exists():
        model_state, optim_state, sched_state, info = load_train_state(state_path)
        load_weights_from_state(model, model_state, state_path)
        history = History.from_dict(info["history"])
        resume = ResumeState(int(info["epochs_done"]), history, optim_state, sched_state)
    else:  # killed before the first epoch finished: start over in the same run
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
    )


def load_weights_from_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    if set(expected) != set(state) or any(
        tuple(expected[k].shape) != tuple(v.shape) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: training state does not match the run's model config")
    model.load_state_dict(state)


def _latest_unfinished(store: Store) -> RunRecord:
    for record in store.list_runs():
        if record.status != "finished":
            return record
    raise ThreeFiguresError("no interrupted or failed run to resume")


# --- stored runs: redraw, evaluate, predict ------------------------------------------------


def history_from_store(store: Store, run_id: str) -> History:
    history = History()
    for row in store.metrics(run_id):
        history.epoch.append(row["epoch"])
        history.epoch_loss.append(row["train_loss"])
        history.val_loss.append(row["val_loss"])
        history.val_accuracy.append(row["val_accuracy"])
        history.epoch_seconds.append(row["seconds"])
    for pos, loss in store.batches(run_id):
        history.batch_epoch.append(pos)
        history.batch_loss.append(loss)
    return history


def redraw(ref: str = "latest", *, store: Store | None = None) -> dict[str, Path]:
    """Redraw the figures and report of a stored run from its weights and metrics."""
    store = store or Store()
    model, record, config, classes = load_run_model(store, ref)
    data = load_data(config.data.name, data_dir=config.data.data_dir, binary=config.data.binary)
    test = evaluate(model, data.test_x, data.test_y, num_classes=len(classes))
    timings = dict(record.info.get("timings", {}))
    extra: dict[str, Any] = {
        k: record.info[k] for k in ("device", "precision", "sizes") if k in record.info
    }
    return write_outputs(
        record,
        model,
        config,
        data,
        history_from_store(store, record.id),
        test,
        timings,
        store,
        extra,
    )


def evaluate_run(
    ref: str = "latest",
    data_name: str | None = None,
    *,
    data_dir: str | None = None,
    split: str = "test",
    store: Store | None = None,
) -> tuple[EvalResult, RunRecord, list[str], Dataset]:
    """Score a stored model on a dataset's ``test``, ``train`` or ``all`` images."""
    store = store or Store()
    model, record, config, classes = load_run_model(store, ref)
    if data_name is None:
        data = load_data(config.data.name, data_dir=config.data.data_dir, binary=config.data.binary)
    else:
        data = load_data(data_name, data_dir=data_dir)
    if is_sequence_data(data):
        raise ConfigError("evaluate scores image datasets; a sequence run's report has its scores")
    if data.num_classes != len(classes):
        raise ConfigError(
            f"run {record.id} predicts {len(classes)} classes "
            f"but {data.name} has {data.num_classes}"
        )
    if data.image_shape != tuple(config.model.input_shape):
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
    return evaluate(model, x, y, num_classes=len(classes)), record, classes, data


@dataclass
class Prediction:
    path: str
    label: int | None = None
    class_name: str | None = None
    probabilities: list[float] | None = None
    top: list[tuple[str, float]] | None = None
    image: np.ndarray | None = None  # (28, 28) float in [0, 1], what the network saw
    inverted: bool | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.path}
        if self.error is not None:
            out["error"] = self.error
            return out
        out.update(
            {
                "class": self.class_name,
                "index": self.label,
                "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top or []],
                "probabilities": [round(p, 6) for p in self.probabilities or []],
                "inverted": self.inverted,
                "notes": list(self.notes),
            }
        )
        return out


def predict_images(
    paths: Sequence[str | Path], model: nn.Module, classes: list[str], *, top_k: int = 3
) -> list[Prediction]:
    """Classify image files; each bad file gets its own one-line error, the rest go on."""
    from threefigures.errors import ImageError
    from threefigures.preprocess import preprocess_path

    results: list[Prediction] = []
    ready: list[tuple[int, np.ndarray]] = []
    for path in paths:
        try:
            pre = preprocess_path(path)
        except ImageError as exc:
            results.append(Prediction(path=str(path), error=str(exc)))
            continue
        results.append(
            Prediction(path=str(path), image=pre.image, inverted=pre.inverted, notes=pre.notes)
        )
        ready.append((len(results) - 1, pre.image))
    if ready:
        batch = torch.from_numpy(np.stack([img for _i, img in ready])).unsqueeze(
            1
        )  # (N, 1, 28, 28)
        probs = predict_proba(model, batch).numpy()
        for (i, _img), row in zip(ready, probs, strict=True):
            order = np.argsort(-row)[:top_k]
            pred = results[i]
            pred.label = int(order[0])
            pred.class_name = classes[pred.label]
            pred.probabilities = [float(p) for p in row]
            pred.top = [(classes[j], float(row[j])) for j in order]
    return results


def draw_figures(
    model: nn.Module, data: Dataset, result: FitResult, out_dir: str | Path
) -> dict[str, Path]:
    """The three figures and report for a model trained with :func:`fit` in Python."""
    from datetime import UTC, datetime

    from threefigures.config import DataConfig

    if result.test is None:
        raise ThreeFiguresError("draw_figures needs a fit result with a test evaluation")
    folder = Path(out_dir)
    model_config = getattr(model, "config", None)
    if not isinstance(model_config, ModelConfig):
        raise ThreeFiguresError("draw_figures needs a model built by create_model")
    config = RunConfig(data=DataConfig(name=data.name), model=model_config, train=result.config)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = RunRecord(
        id="python-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"),
        created_at=now,
        updated_at=now,
        status="finished",
        data_name=data.name,
        model_name=model_config.name,
        epochs_planned=result.config.epochs,
        epochs_done=result.epochs_done,
        test_accuracy=result.test.accuracy,
        seconds=result.train_seconds,
        device=result.device,
        run_dir=folder,
        config=config.to_dict(),
        info={},
        error=None,
    )
    extra = {"device": result.device, "precision": result.precision, "sizes": result.sizes}
    timings = {"train_seconds": result.train_seconds}
    return write_outputs(
        record, model, config, data, result.history, result.test, timings, None, extra
    )


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
    from threefigures.looking_inside import inside_figures
    from threefigures.preprocess import preprocess_path

    store = store or Store()
    model, record, config, _classes = load_run_model(store, ref)
    data = load_data(config.data.name, data_dir=config.data.data_dir, binary=config.data.binary)
    image = name = None
    if input_path is not None:
        if is_sequence_data(data):
            raise ConfigError("--input takes an image; this run reads names")
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


@dataclass
class Explanation:
    """One explained input: what it is, the prediction, and the figure written (or an error)."""

    source: str
    figure: Path | None = None
    class_name: str | None = None
    probability: float | None = None
    target: str | None = None
    delta: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"input": self.source, "error": self.error}
        return {
            "input": self.source,
            "class": self.class_name,
            "probability": None if self.probability is None else round(self.probability, 6),
            "explained_class": self.target,
            "figure": str(self.figure),
            "completeness_delta": self.delta,
        }


def explain_inputs(
    inputs: Sequence[str],
    model: nn.Module,
    config: RunConfig,
    classes: list[str],
    out_dir: Path,
    *,
    method: str = "saliency",
    target: int | None = None,
    layer: str | None = None,
) -> list[Explanation]:
    """Attribution figures for image files (image models) or names (name models); each bad
    input gets its own one-line error and the rest go on."""
    from threefigures.errors import ImageError
    from threefigures.explain.attribution import ExplainError
    from threefigures.looking_inside import draw_image_attributions

    out_dir.mkdir(parents=True, exist_ok=True)
    if config.model.vocab_size > 0:
        return _explain_names(inputs, model, config, classes, out_dir, method, target)
    from threefigures.preprocess import preprocess_path

    results: list[Explanation] = []
    for i, source in enumerate(inputs):
        try:
            image = preprocess_path(source).image
            stem = _explain_stem(source, i)
            attr, (figure,) = draw_image_attributions(
                model,
                image[None],
                classes,
                [out_dir / f"{stem}-{method}.png"],
                method=method,
                target=target,
                layer=layer,
            )
        except (ImageError, ExplainError) as exc:
            if isinstance(exc, ExplainError):
                raise
            results.append(Explanation(source=source, error=str(exc)))
            continue
        results.append(_explanation(source, figure, attr, classes))
    return results


def _explain_stem(source: str, index: int) -> str:
    import re

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).stem)[:60] or "input"
    return f"{index:03d}-{stem}"


def _explanation(source: str, figure: Path, attr: Any, classes: list[str]) -> Explanation:
    probs = attr.probabilities[0]
    names = classes if len(classes) == len(probs) else [str(i) for i in range(len(probs))]
    best = int(probs.argmax())
    return Explanation(
        source=source,
        figure=figure,
        class_name=names[best],
        probability=float(probs[best]),
        target=names[int(attr.targets[0])],
        delta=None if attr.delta is None else float(attr.delta[0]),
    )


def _explain_names(
    inputs: Sequence[str],
    model: nn.Module,
    config: RunConfig,
    classes: list[str],
    out_dir: Path,
    method: str,
    target: int | None,
) -> list[Explanation]:
    from threefigures.data.sequences import VOCAB, encode
    from threefigures.errors import DataError
    from threefigures.explain.attribution import attribute
    from threefigures.figures.inside import draw_sequence_attribution
    from threefigures.looking_inside import token_text

    vocab = list(VOCAB)
    # next-character models read names after a start token; the gender model reads them bare
    framed = config.model.sequence_output
    results: list[Explanation] = []
    for i, text in enumerate(inputs):
        try:
            if not text.strip():
                raise DataError(f"{text!r}: an empty name")
            ids = encode(text.strip(), vocab, add_start=framed)
        except DataError as exc:
            results.append(Explanation(source=text, error=str(exc)))
            continue
        x = torch.tensor([ids])  # (1, T)
        lengths = torch.tensor([len(ids)])
        attr = attribute(model, x, method=method, target=target, lengths=lengths)
        names = classes if len(classes) == attr.probabilities.shape[1] else list(vocab)
        probs = attr.probabilities[0]
        order = np.argsort(-probs)[:3]
        figure = draw_sequence_attribution(
            [
                {
                    "text": token_text(ids, vocab),
                    "scores": attr.maps[0].tolist(),
                    "top": [(names[j], float(probs[j])) for j in order],
                    "true": None,
                }
            ],
            out_dir / f"{_explain_stem(text, i)}-{method}.png",
            method=method,
            title=f"Attribution per character for “{text.strip()}”",
        )
        results.append(_explanation(text, figure, attr, names))
    return results
