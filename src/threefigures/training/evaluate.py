"""Evaluation and prediction: ``torch.no_grad()``, ``model.eval()``, batches of 1,024."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from threefigures.errors import ConfigError
from threefigures.training.optim import compute_loss


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


def call_model(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    return model(x) if lengths is None else model(x, lengths)


def as_input(x: torch.Tensor) -> torch.Tensor:
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
        batch = as_input(images[start : start + batch_size].to(device))
        lens = lengths[start : start + batch_size] if lengths is not None else None
        outs.append(to_probabilities(call_model(model, batch, lens)).cpu())
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
    pos_weight: float = 1.0,
    threshold: float = 0.5,
) -> EvalResult:
    """Accuracy, mean loss, predictions and confusion matrix.

    Inputs are uint8 images, float feature rows, or token ids with ``lengths``. For
    next-token targets (N, T) every real position counts as one prediction (padding, -100,
    is skipped). A two-class task answers class 1 when its probability is at least
    ``threshold`` (0.5: the most probable class).
    """
    model.eval()
    device = next(model.parameters()).device
    logits_parts = []
    for start in range(0, images.shape[0], batch_size):
        batch = as_input(images[start : start + batch_size].to(device))
        lens = lengths[start : start + batch_size] if lengths is not None else None
        out = call_model(model, batch, lens).float().cpu()
        if out.ndim == 3:  # pad every batch to the full length before concatenating
            out = F.pad(out, (0, 0, 0, labels.shape[1] - out.shape[1]))
        logits_parts.append(out)
    logits = torch.cat(logits_parts)  # (N, C) or (N, T, V)
    labels = labels.cpu()
    if logits.ndim == 2 and logits.shape[1] == 1:
        loss = "bce"  # a single sigmoid output is trained, and scored, with BCE
    mean_loss = float(compute_loss(logits, labels, loss, pos_weight)) if len(labels) else math.nan
    if logits.ndim == 3:  # next-token: one prediction per real position
        mask = labels != -100
        logits, labels = logits[mask], labels[mask]  # (M, V), (M,)
    probs = to_probabilities(logits)
    classes = num_classes or probs.shape[1]
    if probs.shape[1] != classes:
        raise ConfigError(f"the model has {probs.shape[1]} outputs but the data {classes} classes")
    preds = probs.argmax(dim=1)
    if classes == 2 and threshold != 0.5:
        preds = (probs[:, 1] >= threshold).long()
    confusion = torch.bincount(labels * classes + preds, minlength=classes * classes)
    return EvalResult(
        accuracy=float((preds == labels).float().mean()) if len(labels) else math.nan,
        loss=mean_loss,
        predictions=preds.numpy(),
        probabilities=probs.numpy(),
        labels=labels.numpy(),
        confusion=confusion.reshape(classes, classes).numpy(),
    )
