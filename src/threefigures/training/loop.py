"""The training loop, ``fit``: plain functions over in-memory tensors.

The data goes to the device once, as uint8; each epoch is one random permutation and
its batches are contiguous slices of the permuted tensor, converted to float on the
device. No DataLoader, no per-sample Python: at MNIST scale the per-step overhead is
the cost, so the loop does as little as it can per step.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from threefigures.config import TrainConfig
from threefigures.data import AnyDataset, is_sequence_data, validation_split
from threefigures.errors import ConfigError, ThreeFiguresError
from threefigures.training.devices import (
    describe_device,
    distributed_info,
    resolve_device,
    resolve_precision,
    weights_agree_across_ranks,
)
from threefigures.training.evaluate import EvalResult, as_input, call_model, evaluate
from threefigures.training.optim import (
    check_batch_fits,
    check_loss_fits,
    compute_loss,
    make_optimizer,
    make_scheduler,
    match_state_layout,
)


class TrainingInterrupted(ThreeFiguresError):
    """Ctrl-C during training; ``epochs_done`` epochs are complete and checkpointed."""

    def __init__(self, epochs_done: int) -> None:
        super().__init__(f"training interrupted after {epochs_done} finished epoch(s)")
        self.epochs_done = epochs_done


#: A loss this many times its first value (or 1, if larger) counts as diverged: a training
#: that is learning never climbs there, while an exploding one (Adam at lr 1e6 reached 1e15
#: here) may stay finite for a long time.
DIVERGED_FACTOR = 1e4


class TrainingDiverged(ThreeFiguresError):
    """The loss became NaN or infinite, or exploded past DIVERGED_FACTOR × its start."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g}"
        super().__init__(
            f"loss {what} at epoch {epoch}, batch {batch}: training stopped "
            "(try a smaller learning rate)"
        )
        self.epoch, self.batch = epoch, batch


class _DeferredSigint:
    """Turn Ctrl-C (SIGINT) into a request that training honours at the next step boundary,
    so it never lands inside a checkpoint save or a store write. A second Ctrl-C interrupts
    at once. Only installed in the main thread (handlers cannot be set elsewhere)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = threading.current_thread() is threading.main_thread()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def install(self) -> _DeferredSigint:
        if self._installed:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)


#: Steps between looks at the batch losses for divergence: one device sync per 64 steps
#: (on a GPU ``.item()`` per step would sync every step; on this project's CPU the two
#: measured the same), and an exploding run still stops within 64 steps.
CHECK_EVERY = 64


def _check_losses(
    losses: torch.Tensor, start: int, end: int, epoch: int, first: float | None
) -> float:
    """Raise :class:`TrainingDiverged` at the first of ``losses[start:end]`` that is NaN,
    infinite or past DIVERGED_FACTOR × the run's first loss; returns that first loss."""
    window = losses[start:end].float().cpu()
    if first is None:
        first = float(window[0])
    limit = DIVERGED_FACTOR * max(first, 1.0)
    bad = (~torch.isfinite(window) | (window > limit)).nonzero()
    if len(bad):
        i = int(bad[0])
        raise TrainingDiverged(epoch, start + i + 1, float(window[i]))
    return first


@dataclass
class History:
    """Everything Figure 2 draws: loss per batch and per epoch, validation per epoch."""

    batch_epoch: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, list[Any]]) -> History:
        return cls(**{k: list(raw.get(k, [])) for k in cls().__dict__})


@dataclass
class FitResult:
    history: History
    test: EvalResult | None
    device: str
    precision: str
    train_seconds: float
    sizes: dict[str, int]
    epochs_done: int
    config: TrainConfig
    stopped_early: bool = False
    world_size: int = 1
    ranks_agree: bool = True


@dataclass
class ResumeState:
    """What a checkpoint restores: finished epochs, history, optimizer and schedule state."""

    epochs_done: int
    history: History
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None


EpochCallback = Callable[[nn.Module, torch.optim.Optimizer | None, Any, History, int], None]


class TrainingMonitor:
    """Watches a ``fit`` from inside, for a live view (the web page's Train panel). The
    base class does nothing; a subclass overrides what it needs.

    ``batch`` is called after every step with the epoch's loss tensor so far, on the
    device: reading it syncs, so a monitor reads it only when it reports (a few times a
    second), never every step. ``epoch`` is called once the epoch is checkpointed.
    ``stop_requested`` is asked before every step: True stops training as Ctrl-C does.
    """

    def batch(
        self, model: nn.Module, epoch: int, step: int, steps: int, losses: torch.Tensor
    ) -> None:
        """``step`` (0-based) of ``steps`` in ``epoch`` is done; ``losses[: step + 1]`` hold
        this epoch's batch losses."""

    def epoch(self, model: nn.Module, history: History, epoch: int) -> None:
        """``epoch`` is finished and saved; ``history`` holds it."""

    def stop_requested(self) -> bool:
        return False


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", mininterval=0.2)


def fit(
    model: nn.Module,
    data: AnyDataset,
    config: TrainConfig | None = None,
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    resume: ResumeState | None = None,
    on_epoch_end: EpochCallback | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    evaluate_test: bool = True,
    monitor: TrainingMonitor | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` (validation carved from its training part), then test.

    ``data`` is an image :class:`~threefigures.data.Dataset` or a sequence dataset (token
    ids with lengths). Deterministic on the CPU for a given ``config.seed``: the initial
    weights come from the caller (seed before ``create_model``), each epoch's shuffle,
    augmentation and dropout from ``seed`` and the epoch number, so a resumed run
    continues exactly where it left off. Under torchrun each rank trains on its shard of
    every epoch's permutation with DistributedDataParallel. ``monitor`` watches from
    inside (see :class:`TrainingMonitor`); its stop request is handled like Ctrl-C.
    """
    config = config or TrainConfig()
    config.validate()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if precision == "bf16" and device.type == "mps":
        raise ConfigError("--precision bf16 is supported on cpu and cuda, not mps")
    started = time.perf_counter()
    # token sequences carry their lengths (packed by the RNN); images have none
    train_lengths = data.train_len if is_sequence_data(data) else None
    test_lengths = data.test_len if is_sequence_data(data) else None
    sequences = train_lengths is not None
    check_loss_fits(config.loss, data.num_classes, data.task)
    if sequences and config.augment:
        raise ConfigError("--augment applies to images, not to sequences")
    rank, world = distributed_info()

    split_labels = data.train_y if data.train_y.ndim == 1 else torch.zeros(len(data.train_y))
    train_idx, val_idx = validation_split(split_labels.long(), val_fraction, split_seed)
    n_train = int(train_idx.numel())
    n_local = check_batch_fits(config.batch_size, n_train, world)
    # One transfer to the device; batches are slices of it.
    x_train = as_input(data.train_x[train_idx].to(device))  # (N, 1, H, W) or (N, T)
    y_train = data.train_y[train_idx].to(device)
    # lengths stay on the CPU: pack_padded_sequence wants them there
    len_train = train_lengths[train_idx] if train_lengths is not None else None
    x_val, y_val = data.train_x[val_idx], data.train_y[val_idx]
    len_val = train_lengths[val_idx] if train_lengths is not None else None

    model.to(device)
    learner = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        learner = DistributedDataParallel(model)
    optimizer = make_optimizer(model, config, device)
    rule = getattr(model, "learning_rule", None)
    if optimizer is None and rule != "perceptron":
        raise ConfigError("this model has no trainable parameters")
    steps_per_epoch = math.ceil(n_local / config.batch_size)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    history = History()
    first_epoch = 1
    if resume is not None:
        history = resume.history
        first_epoch = resume.epochs_done + 1
        if optimizer is not None and resume.optimizer_state is not None:
            optimizer.load_state_dict(resume.optimizer_state)
            match_state_layout(optimizer)
        if scheduler is not None and resume.scheduler_state is not None:
            scheduler.load_state_dict(resume.scheduler_state)
    aug_cfg = None
    if config.augment:
        from threefigures.data.augment import AugmentConfig, augment_in_chunks

        aug_cfg = AugmentConfig.from_train_config(config)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    say = log if (log is not None and rank == 0) else (lambda _msg: None)
    params = [p for p in model.parameters() if p.requires_grad]
    best_val, stale = math.inf, 0
    stopped_early = False
    epochs_done = first_epoch - 1
    # divergence is judged against the run's very first batch loss (kept across resumes)
    first_loss: float | None = history.batch_loss[0] if history.batch_loss else None
    stop = _DeferredSigint().install()
    watch = monitor if rank == 0 else None
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            # Seeded per epoch: resuming at epoch k replays exactly what epoch k would do.
            torch.manual_seed(config.seed * 100_003 + epoch)
            gen = torch.Generator(device="cpu").manual_seed(config.seed * 1_000_003 + epoch)
            perm = torch.randperm(n_train, generator=gen)
            perm = perm[rank::world][:n_local]  # this rank's shard of the epoch
            perm_dev = perm.to(device)
            if aug_cfg is not None:
                # one gather per epoch (index_select: 2.5x faster than x[idx] here)
                x_epoch = torch.index_select(x_train, 0, perm_dev)
                y_epoch = torch.index_select(y_train, 0, perm_dev)
                # The gather made x_epoch a copy: augment it in place, a chunk of images per
                # call (per-sample parameters as per batch, with less per-call overhead).
                augment_in_chunks(x_epoch, aug_cfg, out=x_epoch)
            len_epoch = len_train[perm] if len_train is not None else None
            losses = torch.empty(steps_per_epoch, device=device)
            bar = _progress(
                steps_per_epoch, f"epoch {epoch}/{config.epochs}", progress and rank == 0
            )
            learner.train()
            for step in range(steps_per_epoch):
                if stop.requested or (watch is not None and watch.stop_requested()):
                    raise KeyboardInterrupt
                lo, hi = step * config.batch_size, (step + 1) * config.batch_size
                if aug_cfg is not None:
                    xb, yb = x_epoch[lo:hi], y_epoch[lo:hi]  # views of the augmented copy
                else:
                    # each batch gathered as it is used, so it is still in cache for the
                    # forward pass; index_select copies rows 2.5x faster than x[idx] (17 vs
                    # 43 us for 128 images here), 9% of an MLP epoch when it was x[idx]
                    idx = perm_dev[lo:hi]
                    xb = torch.index_select(x_train, 0, idx)
                    yb = torch.index_select(y_train, 0, idx)
                lb = None
                if len_epoch is not None:
                    lb = len_epoch[lo:hi]
                    longest = int(lb.max())
                    xb = xb[:, :longest]  # (B, T_batch): no work on padding past the longest
                    if yb.ndim == 2:
                        yb = yb[:, :longest]
                if rule == "perceptron":
                    lr_now = config.lr
                    loss = torch.tensor(model.perceptron_update(xb, yb, lr_now))  # type: ignore[operator]
                else:
                    assert optimizer is not None
                    with autocast:
                        loss = compute_loss(
                            call_model(learner, xb, lb), yb, config.loss, config.pos_weight
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                losses[step] = loss.detach()
                if (step + 1) % CHECK_EVERY == 0:
                    first_loss = _check_losses(
                        losses, step + 1 - CHECK_EVERY, step + 1, epoch, first_loss
                    )
                if bar is not None:
                    bar.update()
                if watch is not None:
                    watch.batch(model, epoch, step, steps_per_epoch, losses)
            if bar is not None:
                bar.close()
            checked = steps_per_epoch - steps_per_epoch % CHECK_EVERY
            if checked < steps_per_epoch:  # the steps since the last look
                first_loss = _check_losses(losses, checked, steps_per_epoch, epoch, first_loss)
            batch_losses = losses.float().cpu()
            val = (
                evaluate(
                    model,
                    x_val,
                    y_val,
                    lengths=len_val,
                    num_classes=data.num_classes,
                    loss=config.loss,
                    pos_weight=config.pos_weight,
                    threshold=config.threshold,
                )
                if len(val_idx)
                else None
            )
            seconds = time.perf_counter() - epoch_start
            history.batch_epoch.extend(
                (epoch - 1 + (i + 1) / steps_per_epoch) for i in range(steps_per_epoch)
            )
            history.batch_loss.extend(batch_losses.tolist())
            history.epoch.append(epoch)
            history.epoch_loss.append(float(batch_losses.mean()))
            history.val_loss.append(val.loss if val else None)
            history.val_accuracy.append(val.accuracy if val else None)
            history.epoch_seconds.append(seconds)
            val_text = f"{100 * val.accuracy:6.2f}%" if val else "    n/a"
            say(f"{epoch:>5}  {history.epoch_loss[-1]:>10.4f}  {val_text:>9}  {seconds:>7.2f}")
            if on_epoch_end is not None and rank == 0:
                on_epoch_end(model, optimizer, scheduler, history, epoch)
            epochs_done = epoch  # only once its checkpoint is safely written
            if watch is not None:
                watch.epoch(model, history, epoch)
            if stop.requested or (watch is not None and watch.stop_requested()):
                raise KeyboardInterrupt
            if config.early_stopping and val is not None:
                if val.loss < best_val - 1e-6:
                    best_val, stale = val.loss, 0
                else:
                    stale += 1
                    if stale >= config.early_stopping:
                        say(f"early stopping: no better validation loss for {stale} epoch(s)")
                        stopped_early = True
                        break
    except KeyboardInterrupt:
        raise TrainingInterrupted(epochs_done) from None
    finally:
        stop.restore()

    train_seconds = time.perf_counter() - started
    agree = weights_agree_across_ranks(model) if world > 1 else True
    test = (
        evaluate(
            model,
            data.test_x,
            data.test_y,
            lengths=test_lengths,
            num_classes=data.num_classes,
            loss=config.loss,
            pos_weight=config.pos_weight,
            threshold=config.threshold,
        )
        if evaluate_test
        else None
    )
    return FitResult(
        history=history,
        test=test,
        device=describe_device(device),
        precision=precision,
        train_seconds=train_seconds,
        sizes={"train": n_train, "validation": int(val_idx.numel()), "test": len(data.test_y)},
        epochs_done=epochs_done,
        config=config,
        stopped_early=stopped_early,
        world_size=world,
        ranks_agree=agree,
    )


TABLE_HEADER = "epoch  train loss  val acc  seconds"
