"""Tests for the "looking inside the network" figures (threefigures.figures.inside)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from threefigures.data.sources import FASHION_CLASSES as FASHION
from threefigures.figures import (
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
    inside,
)
from threefigures.figures.inside.dense import _as_grid

#: A guard against pathological drawing code (one artist per cell of a big grid, say), not a
#: speed target: drawings take 0.2-1.5 s of CPU here. CPU time is not immune to a busy host
#: (a 2.0 s limit failed CI at 2.04 s while the shared machine ran ~35% slow), hence the
#: margin; speed itself is measured in benchmarks/, never asserted.
MAX_SECONDS = 10.0

DIGITS = [str(k) for k in range(10)]
TOP = [("7", 0.81), ("1", 0.1), ("9", 0.05), ("2", 0.03), ("4", 0.01)]


def _ring(size: int = 28) -> np.ndarray:
    """A synthetic "0": a ring of ink (1) on a blank (0) background."""
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size / 2, xx - size / 2)
    return np.asarray(np.clip(1.2 - np.abs(radius - size / 3.5) / 2.0, 0.0, 1.0))


def _check_png(path: Path, *, min_width: int = 300, min_height: int = 250) -> None:
    """``path`` is a non-blank PNG of at least the given size."""
    assert path.is_file()
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert width >= min_width, f"{path.name} is only {width}px wide"
    assert height >= min_height, f"{path.name} is only {height}px tall"
    assert width <= 6000 and height <= 6000, f"{path.name} is {width}×{height}px"
    assert pixels.std() > 5.0, f"{path.name} looks blank"


def _draw(draw: Callable[[], Path], target: Path, **size: int) -> Path:
    """Run ``draw`` under the CPU-time limit; check what it wrote and that it closed its figure."""
    start = time.process_time()
    out = draw()
    elapsed = time.process_time() - start
    assert elapsed < MAX_SECONDS, f"{target.name} took {elapsed:.2f}s of CPU"
    assert isinstance(out, Path)
    assert out == target
    assert not plt.get_fignums(), "a figure was left open"
    _check_png(out, **size)
    # Written atomically: nothing but the figure is left in its folder.
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    return out


def _nothing_written(tmp_path: Path) -> None:
    assert not any(tmp_path.iterdir()), "a failed drawing left a file behind"


# --- 1. draw_attribution -------------------------------------------------------------------------


@pytest.mark.parametrize("true_label", [None, "7", "3"])
def test_attribution_signed(tmp_path: Path, true_label: str | None) -> None:
    rng = np.random.default_rng(0)
    image = _ring()
    heat = rng.normal(size=image.shape) * image
    target = tmp_path / "attribution.png"
    _draw(
        lambda: draw_attribution(
            image,
            heat,
            TOP,
            target,
            method="integrated-gradients",
            true_label=true_label,
            note="completeness error 0.002",
        ),
        target,
        min_width=1000,
    )


def test_attribution_non_negative_uint8_and_few_classes(tmp_path: Path) -> None:
    image = (_ring() * 255).astype(np.uint8)
    heat = np.abs(np.random.default_rng(1).normal(size=(28, 28)))
    target = tmp_path / "sub" / "saliency.png"
    out = draw_attribution(
        image, heat, [("Sneaker", 0.6), ("Sandal", 0.4)], str(target), method="saliency"
    )
    assert out == target
    _check_png(out, min_width=1000)


def test_attribution_all_zero_heat(tmp_path: Path) -> None:
    target = tmp_path / "zero.png"
    _draw(
        lambda: draw_attribution(_ring(), np.zeros((28, 28)), TOP[:1], target, method="occlusion"),
        target,
    )


@pytest.mark.parametrize(
    ("image", "heat", "top", "method", "match"),
    [
        (np.zeros((28, 28)), np.zeros((14, 14)), TOP, "m", "heat has shape"),
        (np.zeros((28, 28)), np.full((28, 28), np.nan), TOP, "m", "heat contains NaN"),
        (np.zeros((28, 28)), np.full((28, 28), np.inf), TOP, "m", "heat contains NaN"),
        (np.zeros((2, 28, 28)), np.zeros((28, 28)), TOP, "m", "image must have shape"),
        (np.full((28, 28), 2.0), np.zeros((28, 28)), TOP, "m", r"image must lie in \[0, 1\]"),
        (np.zeros((28, 28)), np.zeros(28), TOP, "m", "heat must be 2-D"),
        (np.zeros((28, 28)), np.zeros((28, 28)), [], "m", "top is empty"),
        (np.zeros((28, 28)), np.zeros((28, 28)), [("7", 1.5)], "m", "must lie in"),
        (np.zeros((28, 28)), np.zeros((28, 28)), ["7"], "m", "pairs"),
        (np.zeros((28, 28)), np.zeros((28, 28)), TOP, " ", "method"),
    ],
)
def test_attribution_rejects(
    tmp_path: Path, image: np.ndarray, heat: np.ndarray, top: Any, method: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_attribution(image, heat, top, tmp_path / "bad.png", method=method)
    _nothing_written(tmp_path)


# --- 2. draw_sequence_attribution ----------------------------------------------------------------

NAMES = ["Abigail", "Nguyen", "Li", "Christopher", "Maximilian-Alexander-Wolfgang-Theodor"]


def _seq_items(n: int, *, with_true: bool = True) -> list[dict[str, Any]]:
    rng = np.random.default_rng(2)
    items = []
    for i in range(n):
        text = NAMES[i % len(NAMES)]
        p = float(rng.uniform(0.5, 1.0))
        items.append(
            {
                "text": text,
                "scores": rng.normal(size=len(text)),
                "top": [("female", p), ("male", 1 - p)],
                "true": ("female" if i % 3 else "male") if with_true else None,
            }
        )
    return items


@pytest.mark.parametrize(("n", "with_true"), [(1, False), (5, True), (20, True)])
def test_sequence_attribution(tmp_path: Path, n: int, with_true: bool) -> None:
    target = tmp_path / "seq.png"
    _draw(
        lambda: draw_sequence_attribution(
            _seq_items(n, with_true=with_true), target, method="saliency"
        ),
        target,
        min_height=200,
    )


def test_sequence_attribution_all_zero_scores_and_missing_true(tmp_path: Path) -> None:
    items = [{"text": "ann", "scores": [0.0, 0.0, 0.0], "top": [("female", 1.0)]}]
    target = tmp_path / "zeros.png"
    _draw(lambda: draw_sequence_attribution(items, target, method="occlusion"), target)


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([], "items is empty"),
        ([{"text": "ann", "scores": [0.1, 0.2], "top": [("f", 1.0)]}], "one score per character"),
        ([{"text": "", "scores": [], "top": [("f", 1.0)]}], "is empty"),
        ([{"text": "ab", "scores": [0.1, np.nan], "top": [("f", 1.0)]}], "NaN"),
        ([{"text": "ab", "scores": [0.1, 0.2]}], "lacks 'top'"),
        ([{"text": "ab", "scores": [0.1, 0.2], "top": []}], "top'] is empty"),
        ([{"text": "ab", "scores": [0.1, 0.2], "top": [("f", -0.5)]}], "must lie in"),
        (["ab"], "must be a dict"),
    ],
)
def test_sequence_attribution_rejects(tmp_path: Path, items: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        draw_sequence_attribution(items, tmp_path / "bad.png", method="saliency")
    _nothing_written(tmp_path)


# --- 3. draw_unit_weights ------------------------------------------------------------------------


def test_unit_weights_first_64_with_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    target = tmp_path / "units.png"
    _draw(
        lambda: draw_unit_weights(
            rng.normal(size=(256, 28, 28)), target, values=rng.normal(size=64)
        ),
        target,
        min_width=800,
        min_height=1000,
    )


def test_unit_weights_highlight_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    target = tmp_path / "highlight.png"
    _draw(
        lambda: draw_unit_weights(
            rng.normal(size=(100, 28, 28)),
            target,
            highlight=[17, 3, 99],
            values=[2.5, 1.0, -0.3],
            title="Units this 7 drives",
        ),
        target,
    )


def test_unit_weights_fewer_units_than_max_and_non_square(tmp_path: Path) -> None:
    target = tmp_path / "few.png"
    weights = np.random.default_rng(5).normal(size=(5, 8, 12))
    weights[2] = 0.0  # an all-zero unit still gets a valid (symmetric) scale
    _draw(lambda: draw_unit_weights(weights, target, max_units=64), target)


def test_unit_weights_highlight_longer_than_max_units(tmp_path: Path) -> None:
    target = tmp_path / "capped.png"
    weights = np.random.default_rng(6).normal(size=(50, 28, 28))
    _draw(
        lambda: draw_unit_weights(
            weights, target, highlight=list(range(20)), values=list(range(20)), max_units=8
        ),
        target,
    )


@pytest.mark.parametrize(
    ("weights", "kwargs", "match"),
    [
        (np.zeros((10, 28)), {}, "weights must be 3-D"),
        (np.full((4, 5, 5), np.nan), {}, "NaN"),
        (np.zeros((4, 5, 5)), {"highlight": [4]}, "outside 0..3"),
        (np.zeros((4, 5, 5)), {"highlight": [-1]}, "outside"),
        (np.zeros((4, 5, 5)), {"values": [1.0, 2.0]}, "values has 2 entries"),
        (np.zeros((4, 5, 5)), {"highlight": [0, 1], "values": [1.0]}, "values has 1"),
        (np.zeros((4, 5, 5)), {"values": [1.0, 2.0, np.inf, 4.0]}, "NaN or infinite"),
        (np.zeros((4, 5, 5)), {"max_units": 0}, "max_units"),
        (np.zeros((0, 5, 5)), {}, "empty"),
    ],
)
def test_unit_weights_rejects(
    tmp_path: Path, weights: np.ndarray, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_unit_weights(weights, tmp_path / "bad.png", **kwargs)
    _nothing_written(tmp_path)


# --- 4. draw_layer_activations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "shape"),
    [(1, (1, 1)), (10, (1, 10)), (64, (1, 64)), (65, (8, 9)), (100, (10, 10)), (256, (16, 16))],
)
def test_activation_grid_shape(n: int, shape: tuple[int, int]) -> None:
    grid = _as_grid(np.arange(n, dtype=np.float64))
    assert grid.shape == shape
    # Units read row by row from the top left; padding (if any) is NaN at the end.
    flat = grid.reshape(-1)
    assert np.array_equal(flat[:n], np.arange(n))
    assert np.all(np.isnan(flat[n:]))


def test_layer_activations_256_units_become_16_by_16(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    layers = [
        ("hidden 1 (256, relu)", np.maximum(rng.normal(size=256), 0.0)),
        ("hidden 2 (100, tanh)", np.tanh(rng.normal(size=100))),
        ("output (10, logits)", rng.normal(size=10) * 3),
    ]
    target = tmp_path / "layers.png"
    _draw(
        lambda: draw_layer_activations(layers, target, image=_ring()),
        target,
        min_width=1000,
        min_height=700,
    )


def test_layer_activations_without_image_and_dead_layer(tmp_path: Path) -> None:
    target = tmp_path / "dead.png"
    layers = [("hidden (32, relu)", np.zeros(32)), ("output (2)", np.array([0.3, -0.3]))]
    _draw(lambda: draw_layer_activations(layers, target, title="All dead"), target)


@pytest.mark.parametrize(
    ("layers", "image", "match"),
    [
        ([], None, "layers is empty"),
        ([("h", np.zeros((4, 4)))], None, "must be 1-D"),
        ([("h", np.array([1.0, np.nan]))], None, "NaN"),
        ([("h", np.array([]))], None, "empty"),
        ([("h", np.ones(4))], np.ones(28), "image must have shape"),
        ([("h", np.ones(4))], np.full((28, 28), np.nan), "image contains NaN"),
        ([np.ones(4)], None, "pairs"),
    ],
)
def test_layer_activations_rejects(
    tmp_path: Path, layers: Any, image: np.ndarray | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_layer_activations(layers, tmp_path / "bad.png", image=image)
    _nothing_written(tmp_path)


# --- 5. draw_active_units ------------------------------------------------------------------------


def _units(start: int, n: int, sign: float) -> list[tuple[int, float, np.ndarray]]:
    rng = np.random.default_rng(start)
    return [(start + i, sign * (3.0 - i / 2), rng.normal(size=(28, 28))) for i in range(n)]


def test_active_units(tmp_path: Path) -> None:
    target = tmp_path / "active.png"
    _draw(
        lambda: draw_active_units(_ring(), _units(0, 6, 1.0), _units(100, 6, -1.0), target),
        target,
        min_width=900,
    )


def test_active_units_one_row_empty_and_many_units(tmp_path: Path) -> None:
    target = tmp_path / "most_only.png"
    _draw(lambda: draw_active_units(_ring(), _units(0, 14, 1.0), [], target), target)


@pytest.mark.parametrize(
    ("most", "least", "match"),
    [
        ([], [], "both empty"),
        ([(0, float("nan"), np.zeros((28, 28)))], [], "not finite"),
        ([(0, 1.0, np.zeros(28))], [], "must be 2-D"),
        ([(0, 1.0, np.full((28, 28), np.inf))], [], "NaN or infinite"),
        ([(0, 1.0)], [], "unit index, activation, weights"),
    ],
)
def test_active_units_rejects(tmp_path: Path, most: Any, least: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        draw_active_units(_ring(), most, least, tmp_path / "bad.png")
    _nothing_written(tmp_path)


# --- 6. draw_conv_filters ------------------------------------------------------------------------


def test_conv_filters(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    layers = [
        ("conv1", rng.normal(size=(16, 1, 3, 3))),
        ("conv2", rng.normal(size=(64, 16, 3, 3))),
        ("conv3", rng.normal(size=(8, 64, 5, 5))),
    ]
    target = tmp_path / "filters.png"
    _draw(lambda: draw_conv_filters(layers, target), target, min_width=900)


def test_conv_filters_single_filter_and_cap(tmp_path: Path) -> None:
    layers = [("only", np.ones((1, 3, 3, 3))), ("many", np.zeros((200, 2, 1, 1)))]
    target = tmp_path / "edge.png"
    _draw(lambda: draw_conv_filters(layers, target, max_filters=4), target)


@pytest.mark.parametrize(
    ("layers", "kwargs", "match"),
    [
        ([], {}, "layers is empty"),
        ([("c", np.zeros((4, 3, 3)))], {}, "must be 4-D"),
        ([("c", np.full((4, 1, 3, 3), np.nan))], {}, "NaN"),
        ([("c", np.zeros((4, 1, 3, 3)))], {"max_filters": 0}, "max_filters"),
    ],
)
def test_conv_filters_rejects(
    tmp_path: Path, layers: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_conv_filters(layers, tmp_path / "bad.png", **kwargs)
    _nothing_written(tmp_path)


# --- 7. draw_feature_maps ------------------------------------------------------------------------


def test_feature_maps(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    layers = [
        ("conv1", np.maximum(rng.normal(size=(16, 28, 28)), 0.0)),
        ("conv2", rng.normal(size=(32, 14, 14))),
        ("pool2", np.maximum(rng.normal(size=(32, 7, 7)), 0.0)),
    ]
    target = tmp_path / "maps.png"
    _draw(lambda: draw_feature_maps(_ring(), layers, target), target, min_width=900)


def test_feature_maps_few_maps(tmp_path: Path) -> None:
    layers = [("conv1", np.zeros((3, 28, 28))), ("conv2", np.ones((40, 4, 6)))]
    target = tmp_path / "few.png"
    _draw(lambda: draw_feature_maps(_ring(), layers, target, max_maps=4), target)


@pytest.mark.parametrize(
    ("image", "layers", "kwargs", "match"),
    [
        (np.zeros((28, 28)), [], {}, "layers is empty"),
        (np.zeros((28, 28)), [("c", np.zeros((28, 28)))], {}, "must be 3-D"),
        (np.zeros((28, 28)), [("c", np.full((2, 4, 4), np.nan))], {}, "NaN"),
        (np.zeros((3, 3, 28, 28)), [("c", np.zeros((2, 4, 4)))], {}, "image must have"),
        (np.zeros((28, 28)), [("c", np.zeros((2, 4, 4)))], {"max_maps": 0}, "max_maps"),
    ],
)
def test_feature_maps_rejects(
    tmp_path: Path, image: np.ndarray, layers: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_feature_maps(image, layers, tmp_path / "bad.png", **kwargs)
    _nothing_written(tmp_path)


# --- 8. draw_gates -------------------------------------------------------------------------------


def test_gates_lstm_over_image_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    steps = [f"row {i}" for i in range(28)]
    panels = [
        ("input gate", rng.uniform(size=(128, 28))),
        ("forget gate", rng.uniform(size=(128, 28))),
        ("candidate", np.tanh(rng.normal(size=(128, 28)))),
        ("output gate", rng.uniform(size=(128, 28))),
        ("cell state", rng.normal(size=(128, 28)) * 2),
        ("hidden state", np.tanh(rng.normal(size=(128, 28)))),
    ]
    target = tmp_path / "gates.png"
    _draw(lambda: draw_gates(steps, panels, target), target, min_width=900, min_height=1000)


def test_gates_gru_over_a_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    name = "abigail"
    panels = [
        ("reset gate", rng.uniform(size=(16, len(name)))),
        ("update gate", rng.uniform(size=(16, len(name)))),
        ("hidden state", np.zeros((16, len(name)))),
    ]
    target = tmp_path / "gru.png"
    _draw(lambda: draw_gates(list(name), panels, target), target)


def test_gates_many_steps_are_thinned(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    steps = [f"t{i}" for i in range(90)]
    # A "gate" outside [0, 1] falls back to a signed scale instead of being clipped.
    panels = [("new gate", np.tanh(rng.normal(size=(8, 90))))]
    target = tmp_path / "long.png"
    _draw(lambda: draw_gates(steps, panels, target), target, min_height=200)


@pytest.mark.parametrize(
    ("steps", "panels", "match"),
    [
        ([], [("input gate", np.zeros((4, 0)))], "steps is empty"),
        (["a", "b"], [], "panels is empty"),
        (["a", "b"], [("input gate", np.zeros((4, 3)))], "there are 2 steps"),
        (["a", "b"], [("input gate", np.zeros(2))], "must be 2-D"),
        (["a", "b"], [("input gate", np.full((4, 2), np.nan))], "NaN"),
    ],
)
def test_gates_rejects(tmp_path: Path, steps: list[str], panels: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        draw_gates(steps, panels, tmp_path / "bad.png")
    _nothing_written(tmp_path)


# --- 9. draw_attention ---------------------------------------------------------------------------


def test_attention_over_tokens(tmp_path: Path) -> None:
    weights = np.array([0.05, 0.1, 0.5, 0.2, 0.1, 0.05])
    target = tmp_path / "tokens.png"
    _draw(
        lambda: draw_attention(weights, target, tokens=list("nguyen"), prediction="male (80%)"),
        target,
        min_height=200,
    )


def test_attention_over_many_tokens(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    weights = rng.dirichlet(np.ones(36))
    target = tmp_path / "long.png"
    _draw(lambda: draw_attention(weights, target, tokens=list("a b" * 12)), target)


def test_attention_over_image_rows(tmp_path: Path) -> None:
    raw = np.exp(-(((np.arange(28) - 14) / 4.0) ** 2))
    target = tmp_path / "rows.png"
    _draw(
        lambda: draw_attention(raw / raw.sum(), target, image=_ring(), prediction="0 (97%)"),
        target,
    )


@pytest.mark.parametrize(
    ("weights", "kwargs", "match"),
    [
        (np.full(3, 1 / 3), {}, "exactly one of"),
        (np.full(3, 1 / 3), {"tokens": list("abc"), "image": np.zeros((3, 3))}, "exactly one"),
        (np.array([0.5, 0.7, -0.2]), {"tokens": list("abc")}, "non-negative"),
        (np.array([0.5, np.nan, 0.5]), {"tokens": list("abc")}, "NaN"),
        (np.array([0.5, 0.6, 0.5]), {"tokens": list("abc")}, "sum to 1"),
        (np.full(3, 1 / 3), {"tokens": list("ab")}, "tokens has 2"),
        (np.full(3, 1 / 3), {"image": np.zeros((28, 28))}, "28 rows"),
        (np.full((3, 1), 1 / 3), {"tokens": list("abc")}, "must be 1-D"),
    ],
)
def test_attention_rejects(
    tmp_path: Path, weights: np.ndarray, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_attention(weights, tmp_path / "bad.png", **kwargs)
    _nothing_written(tmp_path)


# --- 10. draw_embedding --------------------------------------------------------------------------


def _embedding(n_layers: int, n: int = 600, n_classes: int = 10) -> tuple[list[Any], np.ndarray]:
    rng = np.random.default_rng(14)
    labels = np.arange(n) % n_classes
    centres = rng.normal(size=(n_classes, 2)) * 3
    layers = []
    for i in range(n_layers):
        coords = rng.normal(size=(n, 2)) + centres[labels] * i / max(n_layers - 1, 1)
        layers.append((f"layer {i}", coords, None if i == 0 else 0.1 * i))
    return layers, labels


@pytest.mark.parametrize("n_layers", [1, 3, 6])
def test_embedding(tmp_path: Path, n_layers: int) -> None:
    layers, labels = _embedding(n_layers)
    target = tmp_path / "embedding.png"
    _draw(lambda: draw_embedding(layers, labels, DIGITS, target), target)


def test_embedding_many_classes_and_tsne_name(tmp_path: Path) -> None:
    layers, labels = _embedding(2, n=300, n_classes=18)
    target = tmp_path / "languages.png"
    classes = [f"language {k}" for k in range(18)]
    _draw(lambda: draw_embedding(layers, labels, classes, target, method="t-SNE"), target)


@pytest.mark.parametrize(
    ("layers", "labels", "match"),
    [
        ([], np.zeros(3, dtype=int), "layers is empty"),
        ([("a", np.zeros((3, 3)), None)], np.zeros(3, dtype=int), r"must be \(N, 2\)"),
        (
            [("a", np.zeros((3, 2)), None), ("b", np.zeros((4, 2)), None)],
            np.zeros(3, dtype=int),
            "has 4 points",
        ),
        ([("a", np.full((3, 2), np.nan), None)], np.zeros(3, dtype=int), "NaN"),
        ([("a", np.zeros((3, 2)), float("nan"))], np.zeros(3, dtype=int), "score must be"),
        ([("a", np.zeros((3, 2)), None)], np.zeros(4, dtype=int), "labels has 4 entries"),
        ([("a", np.zeros((3, 2)), None)], np.array([0, 1, 10]), "class indices"),
        ([("a", np.zeros((3, 2)))], np.zeros(3, dtype=int), "coordinates, score"),
    ],
)
def test_embedding_rejects(tmp_path: Path, layers: Any, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        draw_embedding(layers, labels, DIGITS, tmp_path / "bad.png")
    _nothing_written(tmp_path)


# --- 11. draw_top_losses -------------------------------------------------------------------------


@pytest.mark.parametrize("with_heats", [True, False])
def test_top_losses(tmp_path: Path, with_heats: bool) -> None:
    rng = np.random.default_rng(15)
    k = 9
    images = np.stack([_ring()] * k)
    heats = rng.normal(size=images.shape) if with_heats else None
    true = np.arange(k)
    pred = (true + 1) % 10
    target = tmp_path / "losses.png"
    _draw(
        lambda: draw_top_losses(images, heats, true, pred, np.full(k, 0.97), FASHION, target),
        target,
        min_width=900,
    )


def test_top_losses_empty_sample_still_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "none.png"
    _draw(
        lambda: draw_top_losses(np.zeros((0, 28, 28)), None, [], [], [], DIGITS, target),
        target,
        min_width=600,
        min_height=200,
    )
    target2 = tmp_path / "none2.png"
    target.unlink()
    _draw(lambda: draw_top_losses([], [], [], [], [], DIGITS, target2), target2, min_height=200)


@pytest.mark.parametrize(
    ("images", "heats", "true", "pred", "probs", "match"),
    [
        (np.zeros((2, 28, 28)), None, [1], [2, 3], [0.9, 0.9], "true has 1 entries"),
        (np.zeros((2, 28, 28)), None, [1, 2], [2], [0.9, 0.9], "pred has 1 entries"),
        (np.zeros((2, 28, 28)), None, [1, 2], [2, 3], [0.9], "probs has 1"),
        (np.zeros((2, 28, 28)), None, [1, 2], [2, 3], [0.9, 1.5], "probabilities"),
        (np.zeros((2, 28, 28)), None, [1, 12], [2, 3], [0.9, 0.9], "true: .*class indices"),
        (np.zeros((2, 28, 28)), np.zeros((2, 14, 14)), [1, 2], [2, 3], [0.9, 0.9], "heats has"),
        (np.zeros((2, 28, 28)), np.full((2, 28, 28), np.nan), [1, 2], [2, 3], [0.9, 0.9], "NaN"),
        (np.zeros((28, 28)), None, [1], [2], [0.9], "images must have shape"),
        (np.zeros((0, 28, 28)), None, [1], [2], [0.9], "true has 1 entries"),
    ],
)
def test_top_losses_rejects(
    tmp_path: Path, images: Any, heats: Any, true: Any, pred: Any, probs: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_top_losses(images, heats, true, pred, probs, DIGITS, tmp_path / "bad.png")
    _nothing_written(tmp_path)


# --- 12. draw_confusion_normalised ---------------------------------------------------------------


def test_confusion_normalised_with_an_empty_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    matrix = rng.integers(0, 30, size=(10, 10)) + np.diag(np.full(10, 300))
    matrix[4] = 0  # no examples of class 4: its share row shows "—"
    target = tmp_path / "confusion.png"
    _draw(lambda: draw_confusion_normalised(matrix, FASHION, target), target, min_width=1000)


@pytest.mark.parametrize("n", [2, 40])
def test_confusion_normalised_sizes(tmp_path: Path, n: int) -> None:
    matrix = np.eye(n, dtype=np.int64) * 5 + 1
    target = tmp_path / f"confusion{n}.png"
    classes = [f"c{k}" for k in range(n)]
    _draw(lambda: draw_confusion_normalised(matrix, classes, target), target)


def test_confusion_normalised_all_zero(tmp_path: Path) -> None:
    target = tmp_path / "zero.png"
    _draw(lambda: draw_confusion_normalised(np.zeros((3, 3)), ["a", "b", "c"], target), target)


@pytest.mark.parametrize(
    ("matrix", "classes", "match"),
    [
        (np.zeros((2, 3)), ["a", "b"], "square"),
        (np.zeros((3, 3)), ["a", "b"], "2 class names"),
        (np.array([[1, -1], [0, 1]]), ["a", "b"], "non-negative"),
        (np.array([[1, np.nan], [0, 1]]), ["a", "b"], "finite"),
    ],
)
def test_confusion_normalised_rejects(
    tmp_path: Path, matrix: np.ndarray, classes: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_confusion_normalised(matrix, classes, tmp_path / "bad.png")
    _nothing_written(tmp_path)


def test_module_does_not_import_torch() -> None:
    sources = sorted(Path(inside.__file__).parent.glob("*.py"))
    assert len(sources) > 1  # the package's modules, not only its __init__
    for source in sources:
        text = source.read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text, source.name
