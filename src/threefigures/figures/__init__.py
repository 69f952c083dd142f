"""The article's figures, drawn with matplotlib from plain Python and numpy inputs.

Every function takes an output path, writes the image atomically and returns the
:class:`pathlib.Path` written. Nothing here imports torch.
"""

from __future__ import annotations

from .blocks import BlockSpec, draw_blocks
from .confusion import draw_confusion
from .devices import draw_device_bench
from .inference import draw_inference
from .inside import (
    draw_active_units,
    draw_attention,
    draw_attribution,
    draw_confusion_normalised,
    draw_conv_filters,
    draw_embedding,
    draw_feature_maps,
    draw_gates,
    draw_layer_activations,
    draw_sequence_attribution,
    draw_top_losses,
    draw_unit_weights,
)
from .sequences import draw_generated, draw_sequence_inference
from .structure import LayerSpec, draw_structure
from .training import TrainingHistory, draw_training

__all__ = [
    "BlockSpec",
    "LayerSpec",
    "TrainingHistory",
    "draw_active_units",
    "draw_attention",
    "draw_attribution",
    "draw_blocks",
    "draw_confusion",
    "draw_confusion_normalised",
    "draw_conv_filters",
    "draw_device_bench",
    "draw_embedding",
    "draw_feature_maps",
    "draw_gates",
    "draw_generated",
    "draw_inference",
    "draw_layer_activations",
    "draw_sequence_attribution",
    "draw_sequence_inference",
    "draw_structure",
    "draw_top_losses",
    "draw_training",
    "draw_unit_weights",
]
