"""A run's life cycle, the one copy every trainer uses (``train``, ``--resume`` and the
experiments):

    start_run      a run id, its folder, config.json, a "running" row in the store
    epoch_saver    each epoch: weights → training state → the store's metrics row
                   (or record_fit once after fit, for runs that are rerun, not resumed)
    tracked        Ctrl-C → "interrupted", any other failure → "failed"
    finish_run     "finished", with its test accuracy, seconds and device

The order is the crash-safety rule: whatever the store calls finished is on disk already.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from threefigures.config import RunConfig
from threefigures.errors import ThreeFiguresError
from threefigures.runs.checkpoint import load_train_state, save_train_state, save_weights
from threefigures.runs.folder import (
    STATE_FILE,
    WEIGHTS_FILE,
    load_weights_from_state,
    write_run_config,
)
from threefigures.runs.store import RunRecord, Store
from threefigures.training import (
    EpochCallback,
    History,
    ResumeState,
    TrainingDiverged,
    TrainingInterrupted,
)


def start_run(
    store: Store,
    config: RunConfig,
    *,
    data_name: str,
    classes: list[str],
    info: dict[str, Any],
    out_dir: str | Path | None = None,
) -> RunRecord:
    """A new run: its folder and ``config.json`` first, then its "running" row."""
    run_id = store.new_run_id()
    folder = Path(out_dir) if out_dir is not None else store.root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    write_run_config(folder, run_id, config, classes)
    return store.create_run(
        config=config.to_dict(),
        data_name=data_name,
        model_name=config.model.name,
        epochs=config.train.epochs,
        run_dir=folder.resolve(),
        info=info,
        run_id=run_id,
    )


def epoch_saver(store: Store, record: RunRecord) -> EpochCallback:
    """``fit``'s ``on_epoch_end``: save the epoch (weights, then the full training state for
    ``--resume``), then record it in the store."""
    folder = record.run_dir

    def on_epoch_end(
        model: nn.Module, optimizer: Any, scheduler: Any, history: History, epoch: int
    ) -> None:
        save_weights(model, folder / WEIGHTS_FILE)
        info = {"epochs_done": epoch, "history": history.to_dict()}
        save_train_state(folder / STATE_FILE, model, optimizer, scheduler, info)
        _record_epoch(store, record, history, epoch)

    return on_epoch_end


def record_fit(store: Store, record: RunRecord, model: nn.Module, history: History) -> None:
    """After ``fit``: the weights, then every epoch's row (with its batch losses). For runs
    that are rerun rather than resumed (the experiments): no per-epoch writes inside the
    timed training, no optimizer state."""
    save_weights(model, record.run_dir / WEIGHTS_FILE)
    for epoch in history.epoch:
        _record_epoch(store, record, history, epoch)


def _record_epoch(store: Store, record: RunRecord, history: History, epoch: int) -> None:
    """The store's row for ``epoch`` (1-based) and its batch losses, from the history."""
    i = history.epoch.index(epoch)
    # batch positions rise through the run (epoch - 1 < position <= epoch): bisect, not a scan
    steps = range(
        bisect_right(history.batch_epoch, epoch - 1), bisect_right(history.batch_epoch, epoch)
    )
    store.record_epoch(
        record.id,
        epoch=epoch,
        train_loss=history.epoch_loss[i],
        val_loss=history.val_loss[i],
        val_accuracy=history.val_accuracy[i],
        seconds=history.epoch_seconds[i],
        batches=[(s, history.batch_epoch[s], history.batch_loss[s]) for s in steps],
    )


class RunInterrupted(ThreeFiguresError):
    """A tracked run was interrupted (Ctrl-C, or a Stop from the page) and saved."""

    def __init__(self, message: str, epochs_done: int) -> None:
        super().__init__(message)
        self.epochs_done = epochs_done


@contextmanager
def tracked(store: Store, record: RunRecord, *, resumable: bool = True) -> Iterator[None]:
    """Training inside this block marks the run "interrupted" on Ctrl-C (and, if it can be
    resumed, says how) and "failed" on anything else, before the error goes on."""
    try:
        yield
    except TrainingInterrupted as exc:
        store.set_status(record.id, "interrupted", error=str(exc))
        if not resumable:
            raise
        raise RunInterrupted(
            f"interrupted: run {record.id} saved after {exc.epochs_done} epoch(s); "
            f"continue with `threefigures train --resume {record.id}`",
            exc.epochs_done,
        ) from None
    except TrainingDiverged as exc:
        store.set_status(record.id, "failed", error=str(exc))
        raise
    except BaseException as exc:
        store.set_status(record.id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise


def finish_run(
    store: Store,
    record: RunRecord,
    *,
    test_accuracy: float,
    seconds: float,
    device: str,
    info: dict[str, Any],
) -> RunRecord:
    """Mark a run finished; ``info`` is merged into what the store holds already."""
    store.set_status(
        record.id,
        "finished",
        test_accuracy=test_accuracy,
        seconds=seconds,
        device=device,
        info={**store.get(record.id).info, **info},
    )
    return store.get(record.id)


def resume_state(model: nn.Module, folder: Path) -> ResumeState | None:
    """Load a run's training state into ``model``; ``None`` if it was killed before its
    first epoch was saved (then it starts over in the same run)."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    model_state, optim_state, sched_state, info = load_train_state(path)
    load_weights_from_state(model, model_state, path)
    history = History.from_dict(info["history"])
    return ResumeState(int(info["epochs_done"]), history, optim_state, sched_state)


def history_from_store(store: Store, run_id: str) -> History:
    """Figure 2's numbers as the store recorded them, epoch by epoch and batch by batch."""
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


def latest_unfinished(store: Store) -> RunRecord:
    for record in store.list_runs():
        if record.status != "finished":
            return record
    raise ThreeFiguresError("no interrupted or failed run to resume")
