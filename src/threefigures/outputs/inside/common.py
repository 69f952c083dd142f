"""What every "Looking inside" view shares: the result it adds its figures to, class names,
the fixed test sample, and attribution figures for given images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.explain.attribution import Attribution, attribute

#: Special tokens shown as one character in per-character figures.
_TOKEN_GLYPHS = {"<s>": "^", "</s>": "$", "<pad>": "_"}


@dataclass
class InsideFigure:
    key: str
    title: str
    path: Path
    caption: str


@dataclass(frozen=True)
class InsideOptions:
    """How to look inside: the attribution method, the embedding projection (pca | tsne),
    test examples in the embedding view, how many top losses, and whether to draw the
    confusion matrix (the report has it as HTML tables)."""

    method: str
    projection: str = "pca"
    sample: int = 300
    top_k: int = 12
    confusion_figure: bool = True


@dataclass
class InsideResult:
    figures: list[InsideFigure] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def paths(self) -> dict[str, Path]:
        return {f.key: f.path for f in self.figures}

    def add(self, key: str, title: str, path: Path, caption: str) -> None:
        self.figures.append(InsideFigure(key, title, path, caption))


def default_method(model: nn.Module) -> str:
    """Integrated gradients: defined for every model and complete (sums to the score change)."""
    return "integrated-gradients"


def top_classes(
    probabilities: np.ndarray, classes: Sequence[str], k: int = 5
) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities)[:k]
    return [(classes[i], float(probabilities[i])) for i in order]


def class_names(classes: Sequence[str], n_outputs: int) -> list[str]:
    return list(classes) if len(classes) == n_outputs else [str(i) for i in range(n_outputs)]


def token_text(ids: Sequence[int], vocab: Sequence[str]) -> str:
    """One glyph per token, so per-character scores line up with the text."""
    return "".join(_TOKEN_GLYPHS.get(vocab[int(i)], vocab[int(i)][:1]) for i in ids)


def draw_image_attributions(
    model: nn.Module,
    images: np.ndarray,
    classes: Sequence[str],
    out_paths: Sequence[Path],
    *,
    method: str,
    target: int | None = None,
    layer: str | None = None,
    true_labels: Sequence[int | None] | None = None,
) -> tuple[Attribution, list[Path]]:
    """One attribution figure per (28, 28) image in [0, 1]: input, heatmap, top classes."""
    from threefigures.figures.inside import draw_attribution

    batch = torch.from_numpy(np.asarray(images, dtype=np.float32)).unsqueeze(1)  # (N, 1, H, W)
    attr = attribute(model, batch, method=method, target=target, layer=layer)
    names = class_names(classes, attr.probabilities.shape[1])
    written = []
    for i, path in enumerate(out_paths):
        true = None if true_labels is None else true_labels[i]
        note = f"explaining class {names[int(attr.targets[i])]}"
        if attr.delta is not None:
            note += f" · completeness error {attr.delta[i]:+.4f}"
        written.append(
            draw_attribution(
                images[i],
                attr.maps[i],
                top_classes(attr.probabilities[i], names),
                path,
                method=method,
                title=f"Why the network answered {names[int(attr.probabilities[i].argmax())]}",
                true_label=None if true is None else names[int(true)],
                note=note,
            )
        )
    return attr, written


def add_confusion(
    result: InsideResult, confusion: np.ndarray, classes: list[str], out_dir: Path, title: str
) -> None:
    """The confusion matrix as a figure (the report has it as HTML tables instead)."""
    from threefigures.figures.inside import draw_confusion_normalised

    draw_confusion_normalised(confusion, classes, out_dir / "inside-confusion.png", title=title)
    result.add(
        "inside-confusion",
        "Confusion matrix (counts and row shares)",
        out_dir / "inside-confusion.png",
        "Rows: the true class; columns: the prediction.",
    )
