"""A training run's options as ``threefigures train`` names them → a validated
:class:`RunConfig`. The one copy of that mapping: the CLI passes its parsed options, the web
page's ``POST /api/train`` its JSON body, and both get the same defaults and the same
one-line errors.

An option left out (or ``None``) takes its default: the config dataclasses' own, then the
model's registered defaults (the CNN's 128-unit head), then the dataset's
(``data/names.py``: a bidirectional GRU for names-gender).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threefigures.config import (
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    parse_augment,
)
from threefigures.data.names import train_defaults
from threefigures.errors import ConfigError
from threefigures.models import default_config

#: Every option and its kind: how a JSON value or a CLI string is read.
OPTION_KINDS: dict[str, str] = {
    # data
    "data": "str",
    "data_dir": "str",
    "binary": "int",
    "val_fraction": "float",
    # model
    "model": "str",
    "layers": "sizes",
    "activation": "str",
    "dropout": "float",
    "channels": "sizes",
    "kernel_size": "int",
    "pooling": "str",
    "batch_norm": "bool",
    "cell": "str",
    "hidden_size": "int",
    "num_layers": "int",
    "bidirectional": "bool",
    "attention": "bool",
    "freeze": "bool",
    # training
    "loss": "str",
    "pos_weight": "float",
    "threshold": "float",
    "epochs": "int",
    "batch_size": "int",
    "lr": "float",
    "optimizer": "str",
    "momentum": "float",
    "nesterov": "bool",
    "weight_decay": "float",
    "schedule": "str",
    "step_size": "int",
    "gamma": "float",
    "grad_clip": "float",
    "early_stopping": "int",
    "augment": "augment",
    "rotate_deg": "float",
    "brightness": "float",
    "shift": "float",
    "seed": "int",
    "device": "str",
    "precision": "str",
}

#: ModelConfig fields an option sets directly (``model`` picks the factory; ``layers`` and
#: the RNN's ``cell``/``bidirectional`` fall back to the model's or dataset's defaults).
_MODEL_FIELDS = (
    "layers",
    "activation",
    "dropout",
    "channels",
    "kernel_size",
    "pooling",
    "batch_norm",
    "cell",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "attention",
    "freeze",
)
_TRAIN_FIELDS = tuple(
    name
    for name in OPTION_KINDS
    if name in TrainConfig.__dataclass_fields__  # epochs … precision
)


def flag(name: str) -> str:
    """``batch_size`` → ``--batch-size``: errors name options as the CLI spells them."""
    return "--" + name.replace("_", "-")


def _sizes(name: str, value: Any) -> tuple[int, ...]:
    """``"512,128"``, ``[512, 128]`` or ``256`` → ``(512, 128)``; positive integers only."""
    if isinstance(value, str):
        parts: list[Any] = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = [value]
    sizes: list[int] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise ConfigError(f"{flag(name)} must be positive integers like 512,128, got {value!r}")
        try:
            sizes.append(int(part))
        except ValueError:
            raise ConfigError(
                f"{flag(name)} must be positive integers like 512,128, got {value!r}"
            ) from None
    if not sizes or any(n <= 0 for n in sizes):
        raise ConfigError(f"{flag(name)} needs positive sizes like 256 or 512,128, got {value!r}")
    return tuple(sizes)


def read_option(name: str, value: Any) -> Any:
    """One option's value, checked for its kind (a string for ``--lr`` is an error here;
    range checks are the configs' own)."""
    kind = OPTION_KINDS[name]
    if kind == "sizes":
        return _sizes(name, value)
    if kind == "augment":
        if isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{flag(name)} must be names like flip,rotate, got {value!r}")
            value = ",".join(value)
        if not isinstance(value, str):
            raise ConfigError(f"{flag(name)} must be names like flip,rotate, got {value!r}")
        return parse_augment(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{flag(name)} must be true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{flag(name)} must be an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{flag(name)} must be a number, got {value!r}")
        return float(value)  # NaN and infinities: the configs' range checks say why
    if not isinstance(value, str):
        raise ConfigError(f"{flag(name)} must be a string, got {value!r}")
    return value


def read_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that were given (``None`` means not given), by their Python names
    (``batch-size`` is read as ``batch_size``), each checked by :func:`read_option`."""
    given: dict[str, Any] = {}
    for raw_name, value in options.items():
        name = str(raw_name).replace("-", "_")
        if name not in OPTION_KINDS:
            raise ConfigError(f"unknown option {raw_name!r}")
        if value is None or (OPTION_KINDS[name] == "sizes" and value == ""):
            continue  # not given (an empty --layers, as the CLI has it, too)
        given[name] = read_option(name, value)
    return given


def run_config_from_options(options: Mapping[str, Any]) -> RunConfig:
    """A validated :class:`RunConfig` from ``threefigures train``'s options."""
    given = read_options(options)
    data = given.get("data", DataConfig.name)
    model_name = given.get("model", ModelConfig.name)
    data_fields = {k: given[k] for k in ("data_dir", "val_fraction", "binary") if k in given}
    train_fields = {k: given[k] for k in _TRAIN_FIELDS if k in given}
    config = RunConfig(
        data=DataConfig(name=data, **data_fields),
        model=default_config(
            model_name, data=data, **{k: given[k] for k in _MODEL_FIELDS if k in given}
        ),
        # the dataset's own training defaults (names-gender: 12 epochs; drug-reviews' minilm:
        # AdamW 1e-4, batch 16, 4 epochs) unless given
        train=TrainConfig(**{**train_defaults(data, model_name), **train_fields}),
    )
    config.validate()  # every bad value is one ConfigError line, before anything is written
    return config
