"""Optimizers, learning-rate schedules, losses, and the pre-flight checks that say before
anything runs whether a configuration fits its data (one copy of each)."""

from __future__ import annotations

import inspect
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from threefigures.config import TrainConfig
from threefigures.errors import ConfigError

OptimizerT = TypeVar("OptimizerT", bound=torch.optim.Optimizer)


def _eager(cls: type[OptimizerT]) -> type[OptimizerT]:
    """``cls`` without the wrappers that import ``torch._dynamo`` on first use.

    torch wraps every optimizer's ``step`` (a graph break), ``add_param_group``,
    ``zero_grad``, ``state_dict`` and ``load_state_dict`` (``torch._disable_dynamo``) for
    ``torch.compile``; the first call imports dynamo, 1.3 s of a 7 s ``threefigures demo`` on
    this project's 2-core machine. ``fit`` never compiles, so the same methods are called
    unwrapped: the same kernels, update and state dicts (tested bit-equal to ``cls``).
    ``step`` keeps what its wrapper does outside compilation: no autograd while updating.
    """
    # the optimizer's own update, under every wrapper torch put on it (a stock instance
    # created earlier adds a profiling wrapper to the class itself)
    update = inspect.unwrap(cls.step)

    class Eager(cls):  # type: ignore[valid-type,misc]
        add_param_group = torch.optim.Optimizer.add_param_group.__wrapped__  # type: ignore[attr-defined]
        zero_grad = torch.optim.Optimizer.zero_grad.__wrapped__  # type: ignore[attr-defined]
        state_dict = torch.optim.Optimizer.state_dict.__wrapped__  # type: ignore[attr-defined]
        load_state_dict = torch.optim.Optimizer.load_state_dict.__wrapped__  # type: ignore[attr-defined]

        def step(self, closure: object = None) -> object:
            with torch.no_grad():
                return update(self, closure)

    Eager.__name__ = cls.__name__  # what profiles and reprs show: "Adam"
    Eager.__qualname__ = cls.__name__.upper()  # the module attribute below: pickle finds it
    return Eager


ADAM, ADAMW, SGD = _eager(torch.optim.Adam), _eager(torch.optim.AdamW), _eager(torch.optim.SGD)


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
        return ADAM(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "adamw":
        return ADAMW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    return SGD(
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


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer state its parameter's memory layout (e.g. channels_last conv
    weights): checkpoints store plain contiguous tensors, and fused kernels expect moments
    laid out like the parameters they update."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def compute_loss(
    logits: torch.Tensor, targets: torch.Tensor, loss: str = "ce", pos_weight: float = 1.0
) -> torch.Tensor:
    """The training loss. Per-step logits (B, T, V) are next-token predictions (cross-entropy
    with -100 marking padding); ``mse`` compares softmax outputs with one-hot targets;
    ``bce`` needs a single sigmoid output per example, and ``pos_weight`` multiplies the
    loss of the positive examples (−W·y·log σ(z) − (1−y)·log(1−σ(z)))."""
    if logits.ndim == 3:
        vocab = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=-100)
    if loss == "ce":
        return F.cross_entropy(logits, targets)
    if loss == "mse":
        probs = torch.softmax(logits.float(), dim=1)
        return F.mse_loss(probs, F.one_hot(targets, logits.shape[1]).float())
    if loss == "bce":
        weight = None
        if pos_weight != 1.0:
            weight = torch.tensor(pos_weight, dtype=torch.float32, device=logits.device)
        return F.binary_cross_entropy_with_logits(
            logits[:, 0].float(), targets.float(), pos_weight=weight
        )
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


def check_batch_fits(batch_size: int, n_train: int, world: int = 1) -> int:
    """Every rank takes the same number of steps on its share of ``n_train`` examples; a
    batch larger than that share is a clear error. Returns the share."""
    n_local = n_train // world
    if batch_size > n_local:
        raise ConfigError(f"batch size {batch_size} is larger than the {n_local} training examples")
    return n_local
