"""The "Looking inside" section for a model of reviews (WordPiece tokens): which tokens moved
a few test reviews, the transformer's attention per layer and head over one of them, the
confusion, and the reviews the network was most confidently wrong about.

A transformer's attribution is a backward pass through six 384-wide layers per example (and
integrated gradients 32 of them), so a few reviews are shown, not a dozen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.data.sequences import SequenceDataset
from threefigures.explain.analysis import fixed_sample, top_losses
from threefigures.explain.attribution import attribute
from threefigures.outputs.inside.common import (
    InsideOptions,
    InsideResult,
    add_confusion,
    class_names,
    top_classes,
)
from threefigures.training import evaluate

#: Test reviews drawn with their token attributions, and top losses shown.
REVIEWS_SHOWN = 4


def review_items(
    model: nn.Module,
    data: SequenceDataset,
    rows: np.ndarray,
    *,
    method: str,
    true: list[int] | None = None,
) -> list[dict[str, Any]]:
    """draw_token_attribution's items for the test reviews ``rows``."""
    picked = torch.from_numpy(rows)
    ids, lengths = data.test_x[picked], data.test_len[picked]
    ids = ids[:, : int(lengths.max())]  # (B, longest): no work on shared padding
    attr = attribute(model, ids, method=method, lengths=lengths)
    names = class_names(data.classes, attr.probabilities.shape[1])
    items = []
    for i in range(len(rows)):
        n = int(lengths[i])
        items.append(
            {
                "tokens": [data.vocab[int(t)] for t in ids[i, :n]],
                "scores": attr.maps[i, :n].tolist(),
                "top": top_classes(attr.probabilities[i], names, k=3),
                "true": None if true is None else names[int(true[i])],
                "note": None,
            }
        )
    return items


def inside_reviews(
    model: nn.Module,
    data: SequenceDataset,
    out_dir: Path,
    result: InsideResult,
    options: InsideOptions,
) -> None:
    from threefigures.figures import inside as fig

    method = "integrated-gradients" if options.method == "gradcam" else options.method
    rows = fixed_sample(len(data.test_len), REVIEWS_SHOWN)
    true = data.test_y[torch.from_numpy(rows)].tolist()
    fig.draw_token_attribution(
        review_items(model, data, rows, method=method, true=true),
        out_dir / "inside-attribution.png",
        method=method,
        title=f"Which tokens moved {len(rows)} test reviews ({method})",
    )
    result.add(
        "inside-attribution",
        f"Attribution per token ({method})",
        out_dir / "inside-attribution.png",
        "Red tokens pushed the answer towards the predicted class, blue away from it.",
    )
    maps = getattr(model, "attention_maps", None)
    if callable(maps):
        first = int(rows[0])
        n = int(data.test_len[first])
        ids = data.test_x[first : first + 1, :n]  # (1, T)
        attention = maps(ids, data.test_len[first : first + 1])[:, 0].float().numpy()
        fig.draw_head_attention(
            [data.vocab[int(t)] for t in ids[0]],
            attention,
            out_dir / "inside-attention.png",
            title="The attention of each head and layer over one test review",
        )
        result.add(
            "inside-attention",
            "Attention per layer and head",
            out_dir / "inside-attention.png",
            "Each row: how much attention each token receives in one head, averaged over the "
            "tokens attending.",
        )
    test = evaluate(
        model, data.test_x, data.test_y, lengths=data.test_len, num_classes=data.num_classes
    )
    if options.confusion_figure:
        add_confusion(result, test.confusion, list(data.classes), out_dir, "Confusion")
    worst = top_losses(test.probabilities, test.labels, k=min(options.top_k, REVIEWS_SHOWN))
    if len(worst):
        fig.draw_token_attribution(
            review_items(model, data, worst, method=method, true=test.labels[worst].tolist()),
            out_dir / "inside-top-losses.png",
            method=method,
            title=f"The {len(worst)} most confidently wrong test reviews",
        )
        result.add(
            "inside-top-losses",
            "Top losses",
            out_dir / "inside-top-losses.png",
            "Misclassified reviews the network was surest about, with per-token attribution.",
        )
    result.numbers["per_class_accuracy"] = dict(
        zip(data.classes, test.per_class_accuracy(), strict=False)
    )
