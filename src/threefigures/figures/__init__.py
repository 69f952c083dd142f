"""The article's figures, drawn with matplotlib from plain Python and numpy inputs.

Every function takes an output path, writes the image atomically and returns the
:class:`pathlib.Path` written. Nothing here imports torch.
"""

from __future__ import annotations

from .confusion import draw_confusion
from .inference import draw_inference
from .structure import LayerSpec, draw_structure
from .training import TrainingHistory, draw_training

__all__ = [
    "LayerSpec",
    "TrainingHistory",
    "draw_confusion",
    "draw_inference",
    "draw_structure",
    "draw_training",
]
