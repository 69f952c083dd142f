"""Name → factory registry for models (the timm pattern, in miniature)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from threefigures.config import ModelConfig
from threefigures.errors import ConfigError

ModelFactory = Callable[[ModelConfig], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: ModelFactory
    summary: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: make ``factory(config) -> nn.Module`` available as ``name``."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, summary)
        return factory

    return decorator


def list_models() -> list[ModelEntry]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def create_model(name: str | ModelConfig, config: ModelConfig | None = None) -> nn.Module:
    """Build a model: ``create_model("mlp", ModelConfig(layers=(256,)))`` or
    ``create_model(config)`` (the config's own ``name``)."""
    if isinstance(name, ModelConfig):
        config, name = name, name.name
    if config is None:
        config = ModelConfig(name=name)
    elif config.name != name:
        config = ModelConfig(**{**config.__dict__, "name": name})
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown model {name!r}; choose one of {known}")
    config.validate()
    return _REGISTRY[name].factory(config)
