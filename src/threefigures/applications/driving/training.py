"""Behaviour cloning as plain functions: fit the driving network to the expert's labels.

The recorded views live in memory as one uint8 tensor (N, 48, 48); each epoch draws a seeded
permutation and slices batches from it, turning only the batch into floats. Regression with a
mean squared error per output, the gas weighted less than the steering (a wrong wheel angle
leaves the road; a wrong throttle only changes the pace).

Mirroring a view left ↔ right and negating its steering label is a free second example: the
car sits in the middle of the camera's width, so the mirrored scene is a real scene with the
opposite turn. It also balances the data, since CarRacing's tracks run counter-clockwise and
hold more left turns than right ones. The dashboard rows are not mirrored (their bars keep
their places).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from threefigures.applications.driving.simulator import DASHBOARD_ROW
from threefigures.errors import ConfigError

#: Rows of the 48-row view above the dashboard: the part of the picture that is mirrored.
VIEW_ROWS = DASHBOARD_ROW // 2


@dataclass(frozen=True)
class FitConfig:
    """How the driving network is trained."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    gas_weight: float = 0.5
    flip: bool = True
    seed: int = 0

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be ≥ 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.gas_weight < 0:
            raise ConfigError("lr > 0, weight_decay ≥ 0 and gas_weight ≥ 0 are required")


@dataclass
class FitHistory:
    """Per epoch: the training loss (mean over batches), and on the validation tracks the
    loss and the mean absolute steering and gas errors."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_steer_mae: list[float] = field(default_factory=list)
    val_gas_mae: list[float] = field(default_factory=list)
    seconds: float = 0.0


def as_inputs(views: torch.Tensor) -> torch.Tensor:
    """uint8 views (B, H, W) → float (B, 1, H, W) in [0, 1], what the network takes."""
    return views.unsqueeze(1).float().div_(255.0)  # (B, 1, H, W)


def mirror(x: torch.Tensor, y: torch.Tensor, which: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Mirror the road rows of the inputs ``x`` (B, 1, H, W) where ``which`` (B,) is true,
    negating their steering label ``y[:, 0]``; returns new tensors."""
    x = x.clone()
    y = y.clone()
    road = x[which, :, :VIEW_ROWS, :]  # (b, 1, VIEW_ROWS, W)
    x[which, :, :VIEW_ROWS, :] = road.flip(-1)
    y[which, 0] = -y[which, 0]
    return x, y


def driver_loss(out: torch.Tensor, y: torch.Tensor, gas_weight: float) -> torch.Tensor:
    """Mean squared error of steer, plus ``gas_weight`` × that of the gas."""
    err = (out - y).pow(2).mean(dim=0)  # (outputs,)
    weights = torch.ones_like(err)
    weights[1:] = gas_weight
    return (err * weights).sum()


def fit_driver(
    model: nn.Module,
    views: torch.Tensor,
    labels: torch.Tensor,
    config: FitConfig,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitHistory:
    """Train ``model`` on ``views`` (N, H, W) uint8 and ``labels`` (N, 2) float32."""
    config.validate()
    say = progress or (lambda _msg: None)
    torch.manual_seed(config.seed)
    shuffle = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps = config.epochs * math.ceil(len(views) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps)
    history = FitHistory()
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(views), generator=shuffle)
        total, batches = 0.0, 0
        for first in range(0, len(views), config.batch_size):
            index = order[first : first + config.batch_size]
            x, y = as_inputs(views[index]), labels[index]
            if config.flip:
                x, y = mirror(x, y, torch.rand(len(index), generator=shuffle) < 0.5)
            loss = driver_loss(model(x), y, config.gas_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            batches += 1
        history.train_loss.append(total / batches)
        line = f"epoch {epoch + 1}/{config.epochs}: train loss {history.train_loss[-1]:.4f}"
        if val is not None:
            scores = score_driver(model, *val, gas_weight=config.gas_weight)
            history.val_loss.append(scores["loss"])
            history.val_steer_mae.append(scores["steer_mae"])
            history.val_gas_mae.append(scores["gas_mae"])
            line += f", validation loss {scores['loss']:.4f}, steer MAE {scores['steer_mae']:.3f}"
        say(line)
    history.seconds = time.perf_counter() - start
    return history


def predict(model: nn.Module, views: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The network's (N, outputs) answers for uint8 views (N, H, W), in eval mode."""
    model.eval()
    outs = []
    with torch.no_grad():
        for first in range(0, len(views), batch_size):
            outs.append(model(as_inputs(views[first : first + batch_size])))
    return torch.cat(outs) if outs else torch.zeros((0, 2))


def score_driver(
    model: nn.Module, views: torch.Tensor, labels: torch.Tensor, gas_weight: float = 0.5
) -> dict[str, float]:
    """Loss and mean absolute steering / gas errors against the expert's labels."""
    out = predict(model, views)
    return {
        "loss": float(driver_loss(out, labels, gas_weight)),
        "steer_mae": float((out[:, 0] - labels[:, 0]).abs().mean()),
        "gas_mae": float((out[:, 1] - labels[:, 1]).abs().mean()),
    }
