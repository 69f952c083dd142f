"""A dataset's shape, written into a model config: input shape, class count and pixel
statistics (images), or vocabulary and per-step output (sequences)."""

from __future__ import annotations

import dataclasses

from threefigures.config import ModelConfig
from threefigures.data import AnyDataset, is_sequence_data
from threefigures.models.registry import default_config


def model_config_for(
    data: AnyDataset, config: ModelConfig | None = None, *, loss: str = "ce"
) -> ModelConfig:
    """Fit a model config to a dataset: input shape, class count and pixel statistics
    (images), or vocabulary and per-step output (sequences). BCE gets one sigmoid output."""
    config = config or default_config("mlp")
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
