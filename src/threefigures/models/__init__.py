"""Models by name: ``create_model(name, config)``; importing registers them all."""

from threefigures.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from threefigures.models.mlp import MLP
from threefigures.models.registry import create_model, list_models, register_model

__all__ = ["MLP", "create_model", "list_models", "register_model"]
