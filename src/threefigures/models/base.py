"""The small interface every registered model implements.

Figures, looking inside and the web page ask a model what it has (its blocks, the layers
they may tap, its convolutions, its recurrent layer) instead of testing its class, so a new
model is drawn and explained by implementing these methods, nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from threefigures.config import ModelConfig


class Network(nn.Module):
    """Base class of threefigures models: ``Network(config)`` stores its config."""

    #: A paragraph of history the run's report prints beside the model (the perceptron's).
    history_note: ClassVar[str] = ""
    #: ``"perceptron"``: the model updates itself (``perceptron_update``); no optimizer.
    learning_rule: ClassVar[str | None] = None
    #: A batch answers each input bit for bit as it would be answered alone (checked for
    #: the dense models; oneDNN picks convolution kernels by batch size). The web page
    #: batches only such models' drawings.
    batch_invariant: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def describe(self) -> list[dict[str, Any]]:
        """The network block by block, for Figure 1: ``name``, ``kind``, ``out_shape``
        (without the batch; ``None`` for variable-length steps), ``params``, optional
        ``detail``. The params add up to the model's parameter count."""
        raise NotImplementedError

    def neuron_layers(self) -> list[nn.Linear]:
        """Dense layers Figure 1 draws as columns of neurons (the MLP's); empty: drawn as
        blocks from :meth:`describe`."""
        return []

    def pixel_units(self) -> nn.Linear | None:
        """The first layer whose units each read every pixel: their incoming weights are
        drawn as images. ``None`` where no such layer exists."""
        return None

    def activation_taps(self) -> list[tuple[str, nn.Module]]:
        """(name, module) whose outputs are the layer-by-layer view (forward hooks)."""
        return []

    def inside_activations(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> list[tuple[str, torch.Tensor]] | None:
        """The layer-by-layer view computed by the model itself, for models whose states
        are not a module's output (the RNN's); ``None``: use :meth:`activation_taps`."""
        return None

    def token_embedding(self) -> nn.Module | None:
        """The module whose output is the tokens' embedding (B, T, E), where per-token
        attribution looks (Captum's layer methods); None for models reading pixels."""
        return None

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        """The convolutions by block name ("conv1", …); empty for models without."""
        return {}

    def recurrent_layer(self) -> nn.RNNBase | None:
        """The recurrent layer whose gates and states can be unrolled, if any."""
        return None

    def input_steps(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, T, F) sequence the recurrent layer reads (models with one)."""
        raise NotImplementedError(f"{type(self).__name__} reads no sequence of steps")

    @property
    def reads_tokens(self) -> bool:
        """Whether the input is token ids (B, T) rather than pixels."""
        return False

    @property
    def attends(self) -> bool:
        """Whether :meth:`attention_weights` says where the model looked."""
        return False

    def attention_weights(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention over the input's steps (B, T), rows summing to 1 (models that attend)."""
        raise ValueError(f"{type(self).__name__} has no attention")
