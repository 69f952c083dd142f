"""Training and evaluation as plain functions over in-memory tensors.

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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from threefigures.config import TrainConfig
from threefigures.data import validation_split
from threefigures.errors import ConfigError, ThreeFiguresError


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


def _diverged(value: float, first: float) -> bool:
    return not math.isfinite(value) or value > DIVERGED_FACTOR * max(first, 1.0)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda, then mps, then cpu. An unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (try --device auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: Apple MPS is not available here (try --device auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → bf16 on CUDA GPUs that support it, fp32 elsewhere (see README)."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    return precision


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
class EvalResult:
    accuracy: float
    loss: float
    predictions: np.ndarray  # (N,) int
    probabilities: np.ndarray  # (N, C) float32
    labels: np.ndarray  # (N,) int
    confusion: np.ndarray  # (C, C) int, rows = true class

    def per_class_accuracy(self) -> list[float | None]:
        totals = self.confusion.sum(axis=1)
        return [
            float(self.confusion[i, i] / totals[i]) if totals[i] else None
            for i in range(len(totals))
        ]


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


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer | None:
    """The optimizer, or None for a model with its own learning rule (the perceptron)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return None
    # fused kernels do the whole update in one op per step: the CPU per-step cost is the
    # bottleneck at batch sizes like 32-128, so this matters (see benchmarks/).
    fused = device.type in ("cpu", "cuda")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=config.lr, weight_decay=config.weight_decay, fused=fused
        )
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        fused=fused,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer | None, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A schedule stepped once per batch (``step`` decays every ``step_size`` epochs)."""
    if optimizer is None or config.schedule == "constant":
        return None
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.schedule == "one-cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    per = steps_per_epoch * config.step_size
    gamma = config.gamma
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: gamma ** (step // per))


def _match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer state its parameter's memory layout (e.g. channels_last conv
    weights): checkpoints store plain contiguous tensors, and fused kernels expect moments
    laid out like the parameters they update."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def to_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) → float (N, 1, H, W) in [0, 1]."""
    return x.unsqueeze(1).float().div_(255.0)  # (N, 1, H, W)


def to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over classes; a single sigmoid output (BCE) becomes [P(not), P(yes)]."""
    logits = logits.float()
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=-1)
    return torch.softmax(logits, dim=-1)


def compute_loss(logits: torch.Tensor, targets: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """The training loss. Per-step logits (B, T, V) are next-token predictions (cross-entropy
    with -100 marking padding); ``mse`` compares softmax outputs with one-hot targets;
    ``bce`` needs a single sigmoid output per example."""
    if logits.ndim == 3:
        vocab = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=-100)
    if loss == "ce":
        return F.cross_entropy(logits, targets)
    if loss == "mse":
        probs = torch.softmax(logits.float(), dim=1)
        return F.mse_loss(probs, F.one_hot(targets, logits.shape[1]).float())
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), targets.float())
    raise ConfigError(f"unknown loss {loss!r}")


def check_loss_fits(loss: str, num_classes: int, task: str = "classify") -> None:
    """A loss that does not fit the task is a clear error before anything runs."""
    if task == "next" and loss != "ce":
        raise ConfigError(f"--loss {loss} does not fit next-character prediction: use ce")
    if loss == "bce" and num_classes != 2:
        raise ConfigError(
            f"--loss bce needs a binary task, but the data has {num_classes} classes "
            "(use --binary K to ask 'is it class K?', or --loss ce)"
        )


def _call(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    return model(x) if lengths is None else model(x, lengths)


def _as_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 images → float pixels; token ids stay as they are."""
    return to_float_images(x) if x.dtype == torch.uint8 else x


@torch.no_grad()
def predict_proba(
    model: nn.Module,
    images: torch.Tensor,
    *,
    lengths: torch.Tensor | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Class probabilities for (N, 1, H, W) float images in [0, 1] (or uint8 (N, H, W)),
    or for token ids (N, T) with their lengths."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for start in range(0, images.shape[0], batch_size):
        batch = _as_input(images[start : start + batch_size].to(device))
        lens = lengths[start : start + batch_size] if lengths is not None else None
        outs.append(to_probabilities(_call(model, batch, lens)).cpu())
    return torch.cat(outs) if outs else torch.zeros(0, 0)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    lengths: torch.Tensor | None = None,
    num_classes: int | None = None,
    batch_size: int = 1024,
    loss: str = "ce",
) -> EvalResult:
    """Accuracy, mean loss, predictions and confusion matrix.

    Inputs are uint8 images, or token ids with ``lengths``. For next-token targets
    (N, T) every real position counts as one prediction (padding, -100, is skipped).
    """
    model.eval()
    device = next(model.parameters()).device
    logits_parts = []
    for start in range(0, images.shape[0], batch_size):
        batch = _as_input(images[start : start + batch_size].to(device))
        lens = lengths[start : start + batch_size] if lengths is not None else None
        out = _call(model, batch, lens).float().cpu()
        if out.ndim == 3:  # pad every batch to the full length before concatenating
            out = F.pad(out, (0, 0, 0, labels.shape[1] - out.shape[1]))
        logits_parts.append(out)
    logits = torch.cat(logits_parts)  # (N, C) or (N, T, V)
    labels = labels.cpu()
    mean_loss = float(compute_loss(logits, labels, loss)) if len(labels) else math.nan
    if logits.ndim == 3:  # next-token: one prediction per real position
        mask = labels != -100
        logits, labels = logits[mask], labels[mask]  # (M, V), (M,)
    probs = to_probabilities(logits)
    classes = num_classes or probs.shape[1]
    if probs.shape[1] != classes:
        raise ConfigError(f"the model has {probs.shape[1]} outputs but the data {classes} classes")
    preds = probs.argmax(dim=1)
    confusion = torch.bincount(labels * classes + preds, minlength=classes * classes)
    return EvalResult(
        accuracy=float((preds == labels).float().mean()) if len(labels) else math.nan,
        loss=mean_loss,
        predictions=preds.numpy(),
        probabilities=probs.numpy(),
        labels=labels.numpy(),
        confusion=confusion.reshape(classes, classes).numpy(),
    )


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", mininterval=0.2)


def distributed_info() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under torchrun with an initialised group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Under ``torchrun`` (WORLD_SIZE > 1): join the process group — nccl on GPUs, gloo on
    CPUs — and share the CPU cores among the local processes. Elsewhere a no-op."""
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return distributed_info()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if backend == "gloo":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    else:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return distributed_info()


def _weights_agree_across_ranks(model: nn.Module) -> bool:
    """All ranks hold bit-identical weights (DDP keeps them in step): compare checksums."""
    import torch.distributed as dist

    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()]).cpu()
    stats = torch.stack([flat.sum(), (flat * flat).sum(), flat.abs().max()])
    gathered = [torch.zeros_like(stats) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, stats)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def fit(
    model: nn.Module,
    data: Any,
    config: TrainConfig | None = None,
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    resume: ResumeState | None = None,
    on_epoch_end: EpochCallback | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    evaluate_test: bool = True,
) -> FitResult:
    """Train ``model`` on ``data`` (validation carved from its training part), then test.

    ``data`` is an image :class:`~threefigures.data.Dataset` or a sequence dataset (token
    ids with lengths). Deterministic on the CPU for a given ``config.seed``: the initial
    weights come from the caller (seed before ``create_model``), each epoch's shuffle,
    augmentation and dropout from ``seed`` and the epoch number, so a resumed run
    continues exactly where it left off. Under torchrun each rank trains on its shard of
    every epoch's permutation with DistributedDataParallel.
    """
    config = config or TrainConfig()
    config.validate()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if precision == "bf16" and device.type == "mps":
        raise ConfigError("--precision bf16 is supported on cpu and cuda, not mps")
    started = time.perf_counter()
    sequences = hasattr(data, "train_len")
    task = getattr(data, "task", "classify")
    check_loss_fits(config.loss, data.num_classes, task)
    if sequences and config.augment:
        raise ConfigError("--augment applies to images, not to sequences")
    rank, world = distributed_info()

    split_labels = data.train_y if data.train_y.ndim == 1 else torch.zeros(len(data.train_y))
    train_idx, val_idx = validation_split(split_labels.long(), val_fraction, split_seed)
    n_train = int(train_idx.numel())
    n_local = n_train // world  # every rank takes the same number of steps
    if config.batch_size > n_local:
        raise ConfigError(
            f"batch size {config.batch_size} is larger than the {n_local} training examples"
        )
    # One transfer to the device; batches are slices of it.
    x_train = _as_input(data.train_x[train_idx].to(device))  # (N, 1, H, W) or (N, T)
    y_train = data.train_y[train_idx].to(device)
    len_train = data.train_len[train_idx] if sequences else None  # CPU: pack wants it there
    x_val, y_val = data.train_x[val_idx], data.train_y[val_idx]
    len_val = data.train_len[val_idx] if sequences else None

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
            _match_state_layout(optimizer)
        if scheduler is not None and resume.scheduler_state is not None:
            scheduler.load_state_dict(resume.scheduler_state)
    aug_cfg = None
    if config.augment:
        from threefigures.data.augment import AugmentConfig, augment_in_chunks

        aug_cfg = AugmentConfig.from_train_config(config)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    check_every_step = device.type == "cpu"  # .item() is free on the CPU, a sync on a GPU
    say = log if (log is not None and rank == 0) else (lambda _msg: None)
    params = [p for p in model.parameters() if p.requires_grad]
    best_val, stale = math.inf, 0
    stopped_early = False
    epochs_done = first_epoch - 1
    # divergence is judged against the run's very first batch loss (kept across resumes)
    first_loss: float | None = history.batch_loss[0] if history.batch_loss else None
    stop = _DeferredSigint().install()
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            # Seeded per epoch: resuming at epoch k replays exactly what epoch k would do.
            torch.manual_seed(config.seed * 100_003 + epoch)
            gen = torch.Generator(device="cpu").manual_seed(config.seed * 1_000_003 + epoch)
            perm = torch.randperm(n_train, generator=gen)
            perm = perm[rank::world][:n_local]  # this rank's shard of the epoch
            perm_dev = perm.to(device)
            x_epoch, y_epoch = x_train[perm_dev], y_train[perm_dev]  # one gather per epoch
            if aug_cfg is not None:
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
                if stop.requested:
                    raise KeyboardInterrupt
                lo, hi = step * config.batch_size, (step + 1) * config.batch_size
                xb, yb = x_epoch[lo:hi], y_epoch[lo:hi]  # views
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
                        loss = compute_loss(_call(learner, xb, lb), yb, config.loss)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if check_every_step:
                        value = loss.item()
                        if first_loss is None:
                            first_loss = value
                        if _diverged(value, first_loss):
                            raise TrainingDiverged(epoch, step + 1, value)
                    if config.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                losses[step] = loss.detach()
                if bar is not None:
                    bar.update()
            if bar is not None:
                bar.close()
            batch_losses = losses.float().cpu()
            if not check_every_step and len(batch_losses):
                if first_loss is None:
                    first_loss = float(batch_losses[0])
                limit = DIVERGED_FACTOR * max(first_loss, 1.0)
                bad_steps = (~torch.isfinite(batch_losses) | (batch_losses > limit)).nonzero()
                if len(bad_steps):
                    bad = int(bad_steps[0])
                    raise TrainingDiverged(epoch, bad + 1, float(batch_losses[bad]))
            val = (
                evaluate(
                    model,
                    x_val,
                    y_val,
                    lengths=len_val,
                    num_classes=data.num_classes,
                    loss=config.loss,
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
            if stop.requested:
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
    agree = _weights_agree_across_ranks(model) if world > 1 else True
    test = (
        evaluate(
            model,
            data.test_x,
            data.test_y,
            lengths=data.test_len if sequences else None,
            num_classes=data.num_classes,
            loss=config.loss,
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
