"""Attribution figures for a stored model's inputs: image files for image models, names for
name models; each bad input gets its own one-line error and the rest go on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.config import RunConfig
from threefigures.errors import DataError, ImageError
from threefigures.outputs.inside.common import class_names
from threefigures.outputs.predict import safe_stem


@dataclass
class Explanation:
    """One explained input: what it is, the prediction, and the figure written (or an error)."""

    source: str
    figure: Path | None = None
    class_name: str | None = None
    probability: float | None = None
    target: str | None = None
    delta: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"input": self.source, "error": self.error}
        return {
            "input": self.source,
            "class": self.class_name,
            "probability": None if self.probability is None else round(self.probability, 6),
            "explained_class": self.target,
            "figure": str(self.figure),
            "completeness_delta": self.delta,
        }


def explain_inputs(
    inputs: Sequence[str],
    model: nn.Module,
    config: RunConfig,
    classes: list[str],
    out_dir: Path,
    *,
    method: str = "saliency",
    target: int | None = None,
    layer: str | None = None,
) -> list[Explanation]:
    """Attribution figures for image files (image models) or names (name models); each bad
    input gets its own one-line error and the rest go on."""
    from threefigures.explain.attribution import ExplainError
    from threefigures.outputs.inside import draw_image_attributions
    from threefigures.outputs.predict import require_image_model

    require_image_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.model.vocab_size > 0:
        return _explain_names(inputs, model, config, classes, out_dir, method, target)
    from threefigures.data.preprocess import preprocess_path

    results: list[Explanation] = []
    for i, source in enumerate(inputs):
        try:
            image = preprocess_path(source).image
            stem = safe_stem(source, i, "input")
            attr, (figure,) = draw_image_attributions(
                model,
                image[None],
                classes,
                [out_dir / f"{stem}-{method}.png"],
                method=method,
                target=target,
                layer=layer,
            )
        except (ImageError, ExplainError) as exc:
            if isinstance(exc, ExplainError):
                raise
            results.append(Explanation(source=source, error=str(exc)))
            continue
        results.append(_explanation(source, figure, attr, classes))
    return results


def _explanation(source: str, figure: Path, attr: Any, classes: list[str]) -> Explanation:
    probs = attr.probabilities[0]
    names = class_names(classes, len(probs))
    best = int(probs.argmax())
    return Explanation(
        source=source,
        figure=figure,
        class_name=names[best],
        probability=float(probs[best]),
        target=names[int(attr.targets[0])],
        delta=None if attr.delta is None else float(attr.delta[0]),
    )


def _explain_names(
    inputs: Sequence[str],
    model: nn.Module,
    config: RunConfig,
    classes: list[str],
    out_dir: Path,
    method: str,
    target: int | None,
) -> list[Explanation]:
    from threefigures.data.sequences import VOCAB, encode
    from threefigures.explain.attribution import attribute
    from threefigures.figures.inside import draw_sequence_attribution
    from threefigures.outputs.inside import token_text

    vocab = list(VOCAB)
    # next-character models read names after a start token; the gender model reads them bare
    framed = config.model.sequence_output
    results: list[Explanation] = []
    for i, text in enumerate(inputs):
        try:
            if not text.strip():
                raise DataError(f"{text!r}: an empty name")
            ids = encode(text.strip(), vocab, add_start=framed)
        except DataError as exc:
            results.append(Explanation(source=text, error=str(exc)))
            continue
        x = torch.tensor([ids])  # (1, T)
        lengths = torch.tensor([len(ids)])
        attr = attribute(model, x, method=method, target=target, lengths=lengths)
        names = classes if len(classes) == attr.probabilities.shape[1] else list(vocab)
        probs = attr.probabilities[0]
        order = np.argsort(-probs)[:3]
        figure = draw_sequence_attribution(
            [
                {
                    "text": token_text(ids, vocab),
                    "scores": attr.maps[0].tolist(),
                    "top": [(names[j], float(probs[j])) for j in order],
                    "true": None,
                }
            ],
            out_dir / f"{safe_stem(text, i, 'input')}-{method}.png",
            method=method,
            title=f"Attribution per character for “{text.strip()}”",
        )
        results.append(_explanation(text, figure, attr, names))
    return results
