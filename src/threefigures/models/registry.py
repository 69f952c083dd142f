"""Name → factory registry for models (the timm pattern, in miniature)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from threefigures.config import ModelConfig
from threefigures.errors import ConfigError

ModelFactory = Callable[[ModelConfig], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its factory, a one-line summary and its own defaults (the
    ``ModelConfig`` fields where this model differs from the shared defaults)."""

    name: str
    factory: ModelFactory
    summary: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: "any": images (B, C, H, W) or token ids; "text": only token ids, of its own vocabulary
    reads: str = "any"

    def default_config(self) -> ModelConfig:
        return dataclasses.replace(ModelConfig(name=self.name), **self.defaults)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, summary: str, *, reads: str = "any", **defaults: Any
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: make ``factory(config) -> nn.Module`` available as ``name``; keyword
    arguments are the model's own defaults (``layers=(128,)`` for the CNN's head)."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, summary, defaults, reads)
        return factory

    return decorator


def list_models() -> list[ModelEntry]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def model_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown model {name!r}; choose one of {known}")
    return _REGISTRY[name]


def default_config(name: str, *, data: str | None = None, **overrides: Any) -> ModelConfig:
    """``name``'s config with its registered defaults, then the dataset's own defaults for
    it (``data/names.py``), then ``overrides``: ``default_config("cnn")`` has the 128-unit
    head; ``default_config("rnn", data="names-gender")`` a bidirectional GRU."""
    from threefigures.data.names import model_defaults

    dataset = model_defaults(data, name) if data is not None else {}
    return dataclasses.replace(model_entry(name).default_config(), **{**dataset, **overrides})


def create_model(name: str | ModelConfig, config: ModelConfig | None = None) -> nn.Module:
    """Build a model: ``create_model("mlp", ModelConfig(layers=(256,)))`` or
    ``create_model(config)`` (the config's own ``name``)."""
    if isinstance(name, ModelConfig):
        config, name = name, name.name
    entry = model_entry(name)
    if config is None:
        config = entry.default_config()
    elif config.name != name:
        config = ModelConfig(**{**config.__dict__, "name": name})
    config.validate()
    return entry.factory(config)
