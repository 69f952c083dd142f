"""Models by name: ``create_model(name, config)``; importing registers them all."""

from threefigures.models import cnn as _cnn  # noqa: F401  (registers "cnn")
from threefigures.models import minilm as _minilm  # noqa: F401  (registers "minilm")
from threefigures.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from threefigures.models import perceptron as _perceptron  # noqa: F401  (registers "perceptron")
from threefigures.models import rnn as _rnn  # noqa: F401  (registers "rnn")
from threefigures.models.base import Network
from threefigures.models.cnn import CNN
from threefigures.models.for_data import model_config_for
from threefigures.models.mlp import MLP
from threefigures.models.perceptron import Perceptron
from threefigures.models.registry import (
    create_model,
    default_config,
    list_models,
    model_entry,
    register_model,
)
from threefigures.models.rnn import RNN

__all__ = [
    "CNN",
    "MLP",
    "RNN",
    "Network",
    "Perceptron",
    "create_model",
    "default_config",
    "list_models",
    "model_config_for",
    "model_entry",
    "register_model",
]
