"""Training and evaluation as plain functions over in-memory tensors.

The data goes to the device once, as uint8; each epoch is one random permutation and
its batches are contiguous slices of the permuted tensor, converted to float on the
device. No DataLoader, no per-sample Python: at MNIST scale the per-step overhead is
the cost, so the loop does as little as it can per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from threefigures.config import TrainConfig
from threefigures.data import Dataset, validation_split
from threefigures.errors import ConfigError, ThreeFiguresError


class TrainingInterrupted(ThreeFiguresError):
    """Ctrl-C during training; ``epochs_done`` epochs are complete and checkpointed."""

    def __init__(self, epochs_done: int) -> None:
        super().__init__(f"training interrupted after {epochs_done} finished epoch(s)")
        self.epochs_done = epochs_done


class TrainingDiverged(ThreeFiguresError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        super().__init__(
            f"loss became {value} at epoch {epoch}, batch {batch}: training stopped "
            "(try a smaller learning rate)"
        )
        self.epoch, self.batch = epoch, batch


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


@dataclass
class ResumeState:
    """What a checkpoint restores: finished epochs, history, optimizer and schedule state."""

    epochs_done: int
    history: History
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None


EpochCallback = Callable[[nn.Module, torch.optim.Optimizer, Any, History, int], None]


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    # fused kernels do the whole update in one op per step: the CPU per-step cost is the
    # bottleneck at batch sizes like 32-128, so this matters (see benchmarks/).
    fused = device.type in ("cpu", "cuda")
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        fused=fused,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "cosine":
        total = max(1, config.epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return None


def to_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) → float (N, 1, H, W) in [0, 1]."""
    return x.unsqueeze(1).float().div_(255.0)  # (N, 1, H, W)


@torch.no_grad()
def predict_proba(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024
) -> torch.Tensor:
    """Class probabilities for (N, 1, H, W) float images in [0, 1] (or uint8 (N, H, W))."""
    model.eval()
    device = next(model.parameters()).device
    if images.dtype == torch.uint8:
        images = to_float_images(images)
    outs = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        outs.append(torch.softmax(model(batch).float(), dim=1).cpu())
    return torch.cat(outs) if outs else torch.zeros(0, 0)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int | None = None,
    batch_size: int = 1024,
) -> EvalResult:
    """Accuracy, mean cross-entropy, predictions and confusion matrix on uint8 images."""
    model.eval()
    device = next(model.parameters()).device
    logits_parts = []
    for start in range(0, images.shape[0], batch_size):
        batch = to_float_images(images[start : start + batch_size].to(device))
        logits_parts.append(model(batch).float().cpu())
    logits = torch.cat(logits_parts)  # (N, C)
    labels = labels.cpu()
    classes = num_classes or logits.shape[1]
    if logits.shape[1] != classes:
        raise ConfigError(f"the model has {logits.shape[1]} outputs but the data {classes} classes")
    loss = float(F.cross_entropy(logits, labels)) if len(labels) else math.nan
    preds = logits.argmax(dim=1)
    confusion = torch.bincount(labels * classes + preds, minlength=classes * classes)
    return EvalResult(
        accuracy=float((preds == labels).float().mean()) if len(labels) else math.nan,
        loss=loss,
        predictions=preds.numpy(),
        probabilities=torch.softmax(logits, dim=1).numpy(),
        labels=labels.numpy(),
        confusion=confusion.reshape(classes, classes).numpy(),
    )


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", mininterval=0.2)


def fit(
    model: nn.Module,
    data: Dataset,
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

    Deterministic on the CPU for a given ``config.seed``: the initial weights come from
    the caller (seed before ``create_model``), each epoch's shuffle and dropout from
    ``seed`` and the epoch number, so a resumed run continues exactly where it left off.
    """
    config = config or TrainConfig()
    config.validate()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if precision == "bf16" and device.type == "mps":
        raise ConfigError("--precision bf16 is supported on cpu and cuda, not mps")
    started = time.perf_counter()

    train_idx, val_idx = validation_split(data.train_y, val_fraction, split_seed)
    n_train = int(train_idx.numel())
    if config.batch_size > n_train:
        raise ConfigError(
            f"batch size {config.batch_size} is larger than the {n_train} training examples"
        )
    # One transfer to the device; images stay uint8 until a batch is taken.
    x_train = to_float_images(data.train_x[train_idx].to(device))  # (N, 1, H, W)
    y_train = data.train_y[train_idx].to(device)
    x_val, y_val = data.train_x[val_idx], data.train_y[val_idx]

    model.to(device)
    optimizer = make_optimizer(model, config, device)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    history = History()
    first_epoch = 1
    if resume is not None:
        history = resume.history
        first_epoch = resume.epochs_done + 1
        if resume.optimizer_state is not None:
            optimizer.load_state_dict(resume.optimizer_state)
        if scheduler is not None and resume.scheduler_state is not None:
            scheduler.load_state_dict(resume.scheduler_state)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    check_every_step = device.type == "cpu"  # .item() is free on the CPU, a sync on a GPU
    say = log or (lambda _msg: None)
    epochs_done = first_epoch - 1
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            # Seeded per epoch: resuming at epoch k replays exactly what epoch k would do.
            torch.manual_seed(config.seed * 100_003 + epoch)
            gen = torch.Generator(device="cpu").manual_seed(config.seed * 1_000_003 + epoch)
            perm = torch.randperm(n_train, generator=gen).to(device)
            x_epoch, y_epoch = x_train[perm], y_train[perm]  # one gather per epoch
            losses = torch.empty(steps_per_epoch, device=device)
            bar = _progress(steps_per_epoch, f"epoch {epoch}/{config.epochs}", progress)
            model.train()
            for step in range(steps_per_epoch):
                lo = step * config.batch_size
                xb = x_epoch[lo : lo + config.batch_size]  # (B, 1, H, W), a view
                yb = y_epoch[lo : lo + config.batch_size]
                with autocast:
                    loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if check_every_step:
                    value = loss.item()
                    if not math.isfinite(value):
                        raise TrainingDiverged(epoch, step + 1, value)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                losses[step] = loss.detach()
                if bar is not None:
                    bar.update()
            if bar is not None:
                bar.close()
            batch_losses = losses.float().cpu()
            if not check_every_step and not bool(torch.isfinite(batch_losses).all()):
                bad = int((~torch.isfinite(batch_losses)).nonzero()[0])
                raise TrainingDiverged(epoch, bad + 1, float(batch_losses[bad]))
            val = (
                evaluate(model, x_val, y_val, num_classes=data.num_classes)
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
            if on_epoch_end is not None:
                on_epoch_end(model, optimizer, scheduler, history, epoch)
            epochs_done = epoch  # only once its checkpoint is safely written
    except KeyboardInterrupt:
        raise TrainingInterrupted(epochs_done) from None

    train_seconds = time.perf_counter() - started
    test = (
        evaluate(model, data.test_x, data.test_y, num_classes=data.num_classes)
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
    )


TABLE_HEADER = "epoch  train loss  val acc  seconds"
