"""A dataset's shape, written into a model config: input shape, class count and pixel
statistics (images), or vocabulary and per-step output (sequences)."""

from __future__ import annotations

import dataclasses

from threefigures.config import ModelConfig
from threefigures.data import AnyDataset, is_sequence_data, is_table_data
from threefigures.errors import ConfigError
from threefigures.models.registry import default_config

#: The models that read a table's row of features (dense layers take any vector; the
#: perceptron's rule has no single-output BCE form, the task's default loss).
READS_TABLES = ("mlp",)


def model_config_for(
    data: AnyDataset, config: ModelConfig | None = None, *, loss: str = "ce"
) -> ModelConfig:
    """Fit a model config to a dataset: input shape, class count and pixel statistics
    (images), or vocabulary and per-step output (sequences). BCE gets one sigmoid output."""
    config = config or default_config("mlp")
    outputs = 1 if loss == "bce" else data.num_classes
    if is_table_data(data):
        if config.name not in READS_TABLES:
            raise ConfigError(
                f"{config.name} reads images or token sequences; {data.name} is a table of "
                f"{data.num_features} features per case: use --model mlp"
            )
        # the rows are standardised by the data layer already: the model's Normalize is 1:1
        return dataclasses.replace(
            config,
            input_shape=(data.num_features,),
            num_classes=outputs,
            input_mean=0.0,
            input_std=1.0,
        )
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
