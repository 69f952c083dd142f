"""The "Looking inside" section for a names model: attribution per character, gates and
attention, names at each layer, confusion and the most confidently wrong names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from threefigures.data.sequences import SequenceDataset
from threefigures.explain.analysis import fixed_sample, top_losses
from threefigures.explain.attribution import attribute
from threefigures.explain.embedding import layer_embeddings
from threefigures.outputs.inside.common import (
    InsideOptions,
    InsideResult,
    add_confusion,
    class_names,
    token_text,
    top_classes,
)
from threefigures.outputs.inside.recurrent import draw_recurrent
from threefigures.training import evaluate


def sequence_items(
    model: nn.Module,
    ids: torch.Tensor,
    lengths: torch.Tensor,
    vocab: Sequence[str],
    classes: Sequence[str],
    *,
    method: str,
    true: Sequence[int] | None = None,
    target: int | None = None,
) -> list[dict[str, Any]]:
    attr = attribute(model, ids, method=method, lengths=lengths, target=target)
    names = class_names(classes, attr.probabilities.shape[1])
    items = []
    for i in range(ids.shape[0]):
        n = int(lengths[i])
        items.append(
            {
                "text": token_text(ids[i, :n].tolist(), vocab),
                "scores": attr.maps[i, :n].tolist(),
                "top": top_classes(attr.probabilities[i], names, k=3),
                "true": None if true is None else names[int(true[i])],
            }
        )
    return items


def inside_sequences(
    model: nn.Module,
    data: SequenceDataset,
    out_dir: Path,
    result: InsideResult,
    options: InsideOptions,
) -> None:
    from threefigures.figures import inside as fig

    if data.items == "reviews":  # WordPiece tokens, not characters
        from threefigures.outputs.inside.reviews import inside_reviews

        inside_reviews(model, data, out_dir, result, options)
        return
    method, projection = options.method, options.projection
    sample, top_k, confusion_figure = options.sample, options.top_k, options.confusion_figure

    if method == "gradcam":
        method = "integrated-gradients"
    idx = fixed_sample(len(data.test_len), 12)
    ids = data.test_x[torch.from_numpy(idx)]
    lengths = data.test_len[torch.from_numpy(idx)]
    classify = data.task == "classify"
    true = data.test_y[torch.from_numpy(idx)].tolist() if classify else None
    items = sequence_items(model, ids, lengths, data.vocab, data.classes, method=method, true=true)
    fig.draw_sequence_attribution(
        items,
        out_dir / "inside-attribution.png",
        method=method,
        title="Attribution per character"
        + ("" if classify else " (for the character that comes next)"),
    )
    result.add(
        "inside-attribution",
        f"Attribution per character ({method})",
        out_dir / "inside-attribution.png",
        "Red characters pushed the answer towards the predicted class, blue away from it "
        "(^ marks the start token).",
    )
    first = ids[:1, : int(lengths[0])]
    glyphs = list(token_text(first[0].tolist(), data.vocab))
    draw_recurrent(
        model,
        first,
        glyphs,
        out_dir,
        result,
        f"“{data.texts_test[int(idx[0])]}”",
        tokens=glyphs,
        lengths=lengths[:1],
    )
    if not classify:
        result.numbers["note"] = "next-character model: no class confusion or embedding view"
        return
    emb_idx = fixed_sample(len(data.test_len), sample)
    emb_x = data.test_x[torch.from_numpy(emb_idx)]
    emb_len = data.test_len[torch.from_numpy(emb_idx)]
    emb_y = data.test_y[torch.from_numpy(emb_idx)].numpy()
    embeddings = layer_embeddings(model, emb_x, emb_y, method=projection, lengths=emb_len)
    fig.draw_embedding(
        [(e.name, e.coords, e.separation) for e in embeddings],
        emb_y,
        list(data.classes),
        out_dir / "inside-embedding.png",
        method="PCA" if projection == "pca" else "t-SNE",
        title=f"{len(emb_idx)} test {data.items} at each layer",
    )
    result.add(
        "inside-embedding",
        f"Representations layer by layer ({projection.upper()})",
        out_dir / "inside-embedding.png",
        "Separation is the silhouette score of the classes in the layer's full space.",
    )
    result.numbers["separation"] = {e.name: e.separation for e in embeddings}
    test = evaluate(
        model, data.test_x, data.test_y, lengths=data.test_len, num_classes=data.num_classes
    )
    if confusion_figure:
        add_confusion(result, test.confusion, list(data.classes), out_dir, "Confusion")
    worst = top_losses(test.probabilities, test.labels, k=top_k)
    if len(worst):
        w = torch.from_numpy(worst)
        wrong_items = sequence_items(
            model,
            data.test_x[w],
            data.test_len[w],
            data.vocab,
            data.classes,
            method=method,
            true=test.labels[worst].tolist(),
        )
        fig.draw_sequence_attribution(
            wrong_items,
            out_dir / "inside-top-losses.png",
            method=method,
            title=f"The {len(worst)} most confidently wrong test {data.items}",
        )
        result.add(
            "inside-top-losses",
            "Top losses",
            out_dir / "inside-top-losses.png",
            "Misclassified names the network was surest about, with per-character attribution.",
        )
    result.numbers["per_class_accuracy"] = dict(
        zip(data.classes, test.per_class_accuracy(), strict=False)
    )
