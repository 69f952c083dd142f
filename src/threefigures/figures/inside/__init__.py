"""Looking inside the network: attribution, units, layers, gates, attention, embeddings, errors.

One module per kind of drawing, as in :mod:`threefigures.explain`: :mod:`.attribution`,
:mod:`.dense`, :mod:`.conv`, :mod:`.recurrent`, :mod:`.embedding` and :mod:`.errors`; what
only they share (colour scales, colour bars, tile grids) is in :mod:`._common`, and what they
share with the other figures in :mod:`.._checks` and :mod:`.._layout`.

Every function takes numpy arrays and plain Python values (nothing here imports torch), writes
one image atomically with :func:`save` and returns the :class:`pathlib.Path` written.

Colour conventions shared by all of them:

- signed quantities (attributions, weights, hidden and cell states, logits) use a diverging
  map (:data:`DIVERGING`) with limits symmetric around 0, so white is always 0, red positive
  and blue negative;
- non-negative quantities (ReLU activations, gates in [0, 1], attribution magnitudes) use a
  sequential map (:data:`SEQUENTIAL`);
- grids of many small images are drawn with ``imshow`` on one inch-coordinate canvas (one axes
  per figure section at most), which keeps each drawing well under a second of CPU time.
"""

from __future__ import annotations

from .._checks import Float
from .._layout import MAX_ANNOTATED_CLASSES
from ._common import DIVERGING, DPI, HEAT_SEQUENTIAL, SEQUENTIAL
from .attribution import (
    MAX_SEQUENCE_CHARS,
    MAX_SEQUENCE_ROWS,
    TOP_CLASSES,
    draw_attribution,
    draw_sequence_attribution,
)
from .conv import draw_conv_filters, draw_feature_maps
from .dense import (
    MAX_ACTIVE_UNITS,
    STRIP_LIMIT,
    draw_active_units,
    draw_layer_activations,
    draw_unit_weights,
)
from .embedding import draw_embedding
from .errors import TOP_LOSSES_COLS, draw_confusion_normalised, draw_top_losses
from .recurrent import MAX_STEP_LABELS, draw_attention, draw_gates
from .text import draw_head_attention, draw_token_attribution

__all__ = [
    "DIVERGING",
    "DPI",
    "HEAT_SEQUENTIAL",
    "MAX_ACTIVE_UNITS",
    "MAX_ANNOTATED_CLASSES",
    "MAX_SEQUENCE_CHARS",
    "MAX_SEQUENCE_ROWS",
    "MAX_STEP_LABELS",
    "SEQUENTIAL",
    "STRIP_LIMIT",
    "TOP_CLASSES",
    "TOP_LOSSES_COLS",
    "Float",
    "draw_active_units",
    "draw_attention",
    "draw_attribution",
    "draw_confusion_normalised",
    "draw_conv_filters",
    "draw_embedding",
    "draw_feature_maps",
    "draw_gates",
    "draw_head_attention",
    "draw_layer_activations",
    "draw_sequence_attribution",
    "draw_token_attribution",
    "draw_top_losses",
    "draw_unit_weights",
]
