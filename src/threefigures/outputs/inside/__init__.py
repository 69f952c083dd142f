"""Looking inside a trained model: every figure of the "Looking inside" section, for any model.

Computation lives in :mod:`threefigures.explain` (Captum attribution, activations, gates,
embeddings, error analysis); drawing in :mod:`threefigures.figures.inside`. This package
picks what applies to the model and the data (images.py, sequences.py, recurrent.py) and
writes the figures into a folder. It is what ``threefigures inside``, ``threefigures
explain``, ``predict --explain`` and each run's report call.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from torch import nn

from threefigures.data import AnyDataset, is_sequence_data, is_table_data
from threefigures.outputs.inside.common import (
    InsideFigure,
    InsideOptions,
    InsideResult,
    default_method,
    draw_image_attributions,
    token_text,
)
from threefigures.training import EvalResult

__all__ = [
    "InsideFigure",
    "InsideResult",
    "default_method",
    "draw_image_attributions",
    "inside_figures",
    "token_text",
]


def inside_figures(
    model: nn.Module,
    data: AnyDataset,
    out_dir: Path,
    *,
    test: EvalResult | None = None,
    input_image: np.ndarray | None = None,
    input_name: str = "",
    method: str | None = None,
    projection: str = "pca",
    sample: int = 300,
    top_k: int = 12,
    confusion_figure: bool = True,
) -> InsideResult:
    """Write every "Looking inside" figure that applies to ``model`` into ``out_dir``.

    ``input_image``: the (28, 28) image in [0, 1] to follow through the network (default: the
    first test example). ``sample``: test examples for the embedding view (a fixed sample, so
    the report stays fast). ``test``: the run's test evaluation (computed if missing).
    ``confusion_figure``: draw the confusion matrix (the report has it as HTML tables).
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    options = InsideOptions(
        method or default_method(model), projection, sample, top_k, confusion_figure
    )
    result = InsideResult()
    model.eval()
    if is_table_data(data):
        from threefigures.outputs.inside.tables import inside_tables

        inside_tables(model, data, out_dir, result, options, test=test)
    elif is_sequence_data(data):
        from threefigures.outputs.inside.sequences import inside_sequences

        inside_sequences(model, data, out_dir, result, options)
    else:
        from threefigures.outputs.inside.images import inside_images

        inside_images(
            model,
            data,
            out_dir,
            result,
            options,
            test=test,
            input_image=input_image,
            input_name=input_name,
        )
    result.seconds = time.perf_counter() - started
    return result
