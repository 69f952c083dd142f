"""Small building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


class Normalize(nn.Module):
    """(x - mean) / std with the training data's statistics, kept as buffers.

    Living inside the model means every caller (predict, the web page, ONNX) feeds
    plain [0, 1] pixels and cannot forget or mismatch the normalisation.
    """

    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)), persistent=False)
        self.register_buffer("inv_std", torch.tensor(1.0 / float(std)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std
