"""The "Looking inside" section for an image model: attribution (and Grad-CAM), first-layer
units, activations layer by layer, filters and feature maps, gates and attention over rows,
the test set at each layer, confusion and the most confidently wrong images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from threefigures.data import Dataset
from threefigures.explain.analysis import fixed_sample, normalise_rows, top_losses
from threefigures.explain.attribution import attribute, conv_layers
from threefigures.explain.embedding import layer_embeddings
from threefigures.explain.internals import feature_maps, layer_activations, unit_weights
from threefigures.models import Network
from threefigures.outputs.inside.common import (
    InsideOptions,
    InsideResult,
    add_confusion,
    class_names,
    draw_image_attributions,
)
from threefigures.outputs.inside.recurrent import draw_recurrent
from threefigures.training import EvalResult, evaluate


def inside_images(
    model: nn.Module,
    data: Dataset,
    out_dir: Path,
    result: InsideResult,
    options: InsideOptions,
    *,
    test: EvalResult | None,
    input_image: np.ndarray | None,
    input_name: str,
) -> None:
    from threefigures.figures import inside as fig

    method, projection = options.method, options.projection
    sample, top_k, confusion_figure = options.sample, options.top_k, options.confusion_figure

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
    result.add(
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
        result.add(
            "inside-gradcam",
            "Grad-CAM (last convolution)",
            out_dir / "inside-gradcam.png",
            "The last convolution's maps weighted by how much they raise the chosen class.",
        )

    # 2. intermediate layers for that input
    acts = layer_activations(model, x)
    names = class_names(classes, int(acts[-1][1].shape[-1]))
    network = model if isinstance(model, Network) else None
    if network is not None and network.pixel_units() is not None:
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
            result.add(
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
        result.add(
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
        result.add(
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
        result.add(
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
        result.add(
            "inside-feature-maps",
            "Feature maps",
            out_dir / "inside-feature-maps.png",
            "What each filter responds to in this input, layer by layer.",
        )
    if network is not None and network.recurrent_layer() is not None:
        rows = [f"row {t}" for t in range(image.shape[0])]
        draw_recurrent(model, x, rows, out_dir, result, input_name, image=image)

    # 3. embeddings: classes separating layer by layer
    idx = fixed_sample(len(data.test_y), sample)
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
    result.add(
        "inside-embedding",
        f"Representations layer by layer ({projection.upper()})",
        out_dir / "inside-embedding.png",
        "Separation is the silhouette score of the classes in the layer's full space.",
    )

    # 4. error analysis
    if confusion_figure:
        add_confusion(result, test.confusion, classes, out_dir, "Test confusion matrix")
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
    result.add(
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
