"""Looking inside a trained model: every figure of the "Looking inside" section, for any model.

Computation lives in :mod:`threefigures.explain` (Captum attribution, activations, gates,
embeddings, error analysis); drawing in :mod:`threefigures.figures.inside`. This module picks
what applies to the model and the data and writes the figures into a folder. It is what
``threefigures inside``, ``threefigures explain``, ``predict --explain`` and each run's
report call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.data import is_sequence_data
from threefigures.explain.analysis import normalise_rows, top_losses
from threefigures.explain.attribution import Attribution, attribute, conv_layers
from threefigures.explain.embedding import layer_embeddings
from threefigures.explain.internals import (
    feature_maps,
    layer_activations,
    rnn_internals,
    unit_weights,
)
from threefigures.training import EvalResult, evaluate

#: Special tokens shown as one character in per-character figures.
_TOKEN_GLYPHS = {"<s>": "^", "</s>": "$", "<pad>": "_"}


@dataclass
class InsideFigure:
    key: str
    title: str
    path: Path
    caption: str


@dataclass
class InsideResult:
    figures: list[InsideFigure] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def paths(self) -> dict[str, Path]:
        return {f.key: f.path for f in self.figures}


def default_method(model: nn.Module) -> str:
    """Integrated gradients: defined for every model and complete (sums to the score change)."""
    return "integrated-gradients"


def _top(probabilities: np.ndarray, classes: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities)[:k]
    return [(classes[i], float(probabilities[i])) for i in order]


def _class_names(classes: Sequence[str], n_outputs: int) -> list[str]:
    return list(classes) if len(classes) == n_outputs else [str(i) for i in range(n_outputs)]


def token_text(ids: Sequence[int], vocab: Sequence[str]) -> str:
    """One glyph per token, so per-character scores line up with the text."""
    return "".join(_TOKEN_GLYPHS.get(vocab[int(i)], vocab[int(i)][:1]) for i in ids)


# --- attribution figures for given inputs ------------------------------------------------------


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
    names = _class_names(classes, attr.probabilities.shape[1])
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
                _top(attr.probabilities[i], names),
                path,
                method=method,
                title=f"Why the network answered {names[int(attr.probabilities[i].argmax())]}",
                true_label=None if true is None else names[int(true)],
                note=note,
            )
        )
    return attr, written


def _sequence_items(
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
    names = _class_names(classes, attr.probabilities.shape[1])
    items = []
    for i in range(ids.shape[0]):
        n = int(lengths[i])
        items.append(
            {
                "text": token_text(ids[i, :n].tolist(), vocab),
                "scores": attr.maps[i, :n].tolist(),
                "top": _top(attr.probabilities[i], names, k=3),
                "true": None if true is None else names[int(true[i])],
            }
        )
    return items


# --- the whole section --------------------------------------------------------------------------


def inside_figures(
    model: nn.Module,
    data: Any,
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
    from threefigures.figures import inside as fig

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    method = method or default_method(model)
    result = InsideResult()
    model.eval()

    def add(key: str, title: str, path: Path, caption: str) -> None:
        result.figures.append(InsideFigure(key, title, path, caption))

    if is_sequence_data(data):
        _inside_sequences(
            model, data, out_dir, result, add, method, projection, sample, top_k, confusion_figure
        )
        result.seconds = time.perf_counter() - started
        return result

    classes = list(data.classes)
    if test is None:
        test = evaluate(model, data.test_x, data.test_y, num_classes=len(classes))
    if input_image is None:
        input_image = data.test_x[0].float().div(255.0).numpy()
        input_name = input_name or f"test example 0 (a {classes[int(data.test_y[0])]})"
    image = np.asarray(input_image, dtype=np.float32)
    x = torch.from_numpy(image)[None, None]  # (1, 1, H, W)

    # 1. attribution for the followed input, with the default method (and Grad-CAM on CNNs)
    attr, _ = draw_image_attributions(
        model, image[None], classes, [out_dir / "inside-attribution.png"], method=method
    )
    add(
        "inside-attribution",
        f"Attribution ({method})",
        out_dir / "inside-attribution.png",
        f"{input_name}: which pixels raised (red) or lowered (blue) the score of the class "
        "the network chose.",
    )
    if conv_layers(model):
        draw_image_attributions(
            model, image[None], classes, [out_dir / "inside-gradcam.png"], method="gradcam"
        )
        add(
            "inside-gradcam",
            "Grad-CAM (last convolution)",
            out_dir / "inside-gradcam.png",
            "The last convolution's maps weighted by how much they raise the chosen class.",
        )

    # 2. intermediate layers for that input
    acts = layer_activations(model, x)
    names = _class_names(classes, int(acts[-1][1].shape[-1]))
    if hasattr(model, "linear_layers") or type(model).__name__ == "Perceptron":
        weights = unit_weights(model)
        first = acts[1][1][0].float().numpy() if len(acts) > 2 else None
        if first is not None and first.shape[0] == weights.shape[0]:
            order = np.argsort(-first)
            most = [(int(u), float(first[u]), weights[u]) for u in order[:8]]
            least = [(int(u), float(first[u]), weights[u]) for u in order[::-1][:8]]
            fig.draw_active_units(
                image,
                most,
                least,
                out_dir / "inside-active-units.png",
                title=f"Most and least active first-layer units for {input_name}",
            )
            add(
                "inside-active-units",
                "Most and least active units",
                out_dir / "inside-active-units.png",
                "Each unit's incoming weights drawn as an image, with its activation for this "
                "input: the units that fire match the input's strokes.",
            )
        fig.draw_unit_weights(
            weights,
            out_dir / "inside-unit-weights.png",
            title="What each first-layer unit looks for (incoming weights as 28×28 images)",
        )
        add(
            "inside-unit-weights",
            "First-layer weights",
            out_dir / "inside-unit-weights.png",
            "Red: ink there raises the unit's input; blue: ink there lowers it.",
        )
    strips = [
        (f"{name} ({tuple(a.shape[1:])})", a[0].float().reshape(-1).numpy())
        for name, a in acts[1:]
        if a.dim() == 2
    ]
    if strips:
        fig.draw_layer_activations(
            strips,
            out_dir / "inside-activations.png",
            image=image,
            title=f"Activations layer by layer for {input_name}",
        )
        add(
            "inside-activations",
            "Activations per layer",
            out_dir / "inside-activations.png",
            "Every unit's value for this input, layer by layer, ending with the class scores.",
        )
    if conv_layers(model):
        from threefigures.explain.internals import conv_filters

        fig.draw_conv_filters(
            conv_filters(model), out_dir / "inside-filters.png", title="Convolution filters"
        )
        add(
            "inside-filters",
            "Filters",
            out_dir / "inside-filters.png",
            "The learned kernels of each convolution (averaged over input channels).",
        )
        fig.draw_feature_maps(
            image,
            feature_maps(model, x),
            out_dir / "inside-feature-maps.png",
            title=f"Feature maps of each convolution for {input_name}",
        )
        add(
            "inside-feature-maps",
            "Feature maps",
            out_dir / "inside-feature-maps.png",
            "What each filter responds to in this input, layer by layer.",
        )
    if type(model).__name__ == "RNN":
        rows = [f"row {t}" for t in range(image.shape[0])]
        _draw_rnn(model, x, rows, out_dir, add, input_name, image=image)

    # 3. embeddings: classes separating layer by layer
    idx = _fixed_sample(len(data.test_y), sample)
    sample_x = data.test_x[torch.from_numpy(idx)]
    sample_y = data.test_y[torch.from_numpy(idx)].numpy()
    embeddings = layer_embeddings(model, sample_x, sample_y, method=projection)
    fig.draw_embedding(
        [(e.name, e.coords, e.separation) for e in embeddings],
        sample_y,
        classes,
        out_dir / "inside-embedding.png",
        method="PCA" if projection == "pca" else "t-SNE",
        title=f"{len(idx)} test examples at each layer",
    )
    result.numbers["separation"] = {e.name: e.separation for e in embeddings}
    add(
        "inside-embedding",
        f"Representations layer by layer ({projection.upper()})",
        out_dir / "inside-embedding.png",
        "Separation is the silhouette score of the classes in the layer's full space.",
    )

    # 4. error analysis
    if confusion_figure:
        fig.draw_confusion_normalised(
            test.confusion,
            classes,
            out_dir / "inside-confusion.png",
            title="Test confusion matrix",
        )
        add(
            "inside-confusion",
            "Confusion matrix (counts and row shares)",
            out_dir / "inside-confusion.png",
            "Rows: the true class; columns: the prediction.",
        )
    worst = top_losses(test.probabilities, test.labels, k=top_k)
    worst_images = data.test_x[torch.from_numpy(worst)].float().div(255.0).numpy()
    heats = None
    if len(worst):
        heats = attribute(
            model,
            torch.from_numpy(worst_images).unsqueeze(1),
            method="saliency" if method == "gradcam" and not conv_layers(model) else method,
        ).maps
    preds = test.probabilities[worst].argmax(axis=1) if len(worst) else np.zeros(0, int)
    fig.draw_top_losses(
        worst_images,
        heats,
        test.labels[worst],
        preds,
        test.probabilities[worst, preds] if len(worst) else np.zeros(0),
        names,
        out_dir / "inside-top-losses.png",
        title=f"The {len(worst)} most confidently wrong test examples ({method})",
    )
    add(
        "inside-top-losses",
        "Top losses",
        out_dir / "inside-top-losses.png",
        "Misclassified test examples the network was surest about, with their attribution.",
    )
    result.numbers["per_class_accuracy"] = dict(
        zip(classes, test.per_class_accuracy(), strict=False)
    )
    result.numbers["row_normalised_confusion"] = normalise_rows(test.confusion).round(4).tolist()
    result.numbers["attribution"] = {
        "method": method,
        "target": names[int(attr.targets[0])],
        "delta": None if attr.delta is None else float(attr.delta[0]),
    }
    result.seconds = time.perf_counter() - started
    return result


def _fixed_sample(n: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def _draw_rnn(
    model: nn.Module,
    x: torch.Tensor,
    steps: list[str],
    out_dir: Path,
    add: Any,
    input_name: str,
    *,
    image: np.ndarray | None = None,
    tokens: list[str] | None = None,
    lengths: torch.Tensor | None = None,
    length: int | None = None,
) -> None:
    from threefigures.figures import inside as fig

    trace = rnn_internals(model, x, length=length)
    last = trace.layers[-1][0]  # the last layer's forward direction
    panels = [(name, values.T) for name, values in last.gates.items()]
    panels.append(("hidden state", last.hidden.T))
    if last.cell is not None:
        panels.append(("cell state", last.cell.T))
    fig.draw_gates(
        steps[: trace.steps],
        panels,
        out_dir / "inside-gates.png",
        title=f"{trace.cell_type.upper()} gates and state over time for {input_name}"
        + (f" (layer {len(trace.layers)}, forward direction)" if len(trace.layers) > 1 else ""),
    )
    what = {
        "lstm": "input, forget and output gates (0 = closed, 1 = open)",
        "gru": "reset and update gates (0 to 1)",
        "rnn": "no gates in a plain RNN: the hidden state only",
    }[trace.cell_type]
    add(
        "inside-gates",
        "Gates and hidden state",
        out_dir / "inside-gates.png",
        f"Units × time steps: {what}, then the hidden state.",
    )
    attention = getattr(model, "attention", None)
    if attention is not None:
        alpha = model.attention_weights(x, lengths)[0]  # type: ignore[operator]
        n = trace.steps
        with torch.no_grad():
            probs = torch.softmax(model(x) if lengths is None else model(x, lengths), -1)[0]
        fig.draw_attention(
            alpha[:n].detach().numpy(),
            out_dir / "inside-attention.png",
            tokens=tokens[:n] if tokens is not None else None,
            image=image,
            title=f"Where the network looked: attention weights for {input_name}",
            prediction=f"prediction {int(probs.argmax())} ({100 * float(probs.max()):.1f}%)",
        )
        add(
            "inside-attention",
            "Attention",
            out_dir / "inside-attention.png",
            "The weight given to each step's state when forming the answer (they sum to 1).",
        )


def _inside_sequences(
    model: nn.Module,
    data: Any,
    out_dir: Path,
    result: InsideResult,
    add: Any,
    method: str,
    projection: str,
    sample: int,
    top_k: int,
    confusion_figure: bool,
) -> None:
    from threefigures.figures import inside as fig

    if method == "gradcam":
        method = "integrated-gradients"
    idx = _fixed_sample(len(data.test_len), 12)
    ids = data.test_x[torch.from_numpy(idx)]
    lengths = data.test_len[torch.from_numpy(idx)]
    classify = data.task == "classify"
    true = data.test_y[torch.from_numpy(idx)].tolist() if classify else None
    items = _sequence_items(model, ids, lengths, data.vocab, data.classes, method=method, true=true)
    fig.draw_sequence_attribution(
        items,
        out_dir / "inside-attribution.png",
        method=method,
        title="Attribution per character"
        + ("" if classify else " (for the character that comes next)"),
    )
    add(
        "inside-attribution",
        f"Attribution per character ({method})",
        out_dir / "inside-attribution.png",
        "Red characters pushed the answer towards the predicted class, blue away from it "
        "(^ marks the start token).",
    )
    first = ids[:1, : int(lengths[0])]
    glyphs = list(token_text(first[0].tolist(), data.vocab))
    _draw_rnn(
        model,
        first,
        glyphs,
        out_dir,
        add,
        f"“{data.texts_test[int(idx[0])]}”",
        tokens=glyphs,
        lengths=lengths[:1],
    )
    if not classify:
        result.numbers["note"] = "next-character model: no class confusion or embedding view"
        return
    emb_idx = _fixed_sample(len(data.test_len), sample)
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
        title=f"{len(emb_idx)} test names at each layer",
    )
    add(
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
        fig.draw_confusion_normalised(
            test.confusion, list(data.classes), out_dir / "inside-confusion.png", title="Confusion"
        )
        add(
            "inside-confusion",
            "Confusion matrix (counts and row shares)",
            out_dir / "inside-confusion.png",
            "Rows: the true class; columns: the prediction.",
        )
    worst = top_losses(test.probabilities, test.labels, k=top_k)
    if len(worst):
        w = torch.from_numpy(worst)
        wrong_items = _sequence_items(
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
            title=f"The {len(worst)} most confidently wrong test names",
        )
        add(
            "inside-top-losses",
            "Top losses",
            out_dir / "inside-top-losses.png",
            "Misclassified names the network was surest about, with per-character attribution.",
        )
    result.numbers["per_class_accuracy"] = dict(
        zip(data.classes, test.per_class_accuracy(), strict=False)
    )
