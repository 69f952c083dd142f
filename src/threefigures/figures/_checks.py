"""Input checks and number formats shared by the figures (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: A float array, as most checks return.
Float = npt.NDArray[np.float64]


def as_probs(
    probs: npt.ArrayLike, n: int, n_classes: int, items: str = "images"
) -> npt.NDArray[np.float64]:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] != n_classes:
        raise ValueError(
            f"probs must have shape (N, C) = ({n}, {n_classes}) to match the {items} and class "
            f"names; got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or arr.min() < -1e-6:
        raise ValueError("probs must be finite and non-negative (apply softmax to logits)")
    sums = arr.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-2):
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(
            f"each row of probs must sum to 1 (apply softmax to logits); one row sums to {worst:g}"
        )
    return np.clip(arr, 0.0, 1.0)


def as_labels(
    labels: npt.ArrayLike, n: int, n_classes: int, items: str = "images"
) -> npt.NDArray[np.int64]:
    arr = np.asarray(labels).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"labels has {arr.shape[0]} entries but there are {n} {items}")
    if (
        arr.size
        and not np.issubdtype(arr.dtype, np.integer)
        and not (np.all(np.isfinite(arr.astype(np.float64))) and np.all(arr == np.round(arr)))
    ):
        raise ValueError("labels must be whole class indices")
    out = arr.astype(np.int64)
    if out.size and (out.min() < 0 or out.max() >= n_classes):
        raise ValueError(
            f"labels must be class indices in 0..{n_classes - 1}; got {out.min()} to {out.max()}"
        )
    return out


def percent(p: float) -> str:
    """Confidence as a whole percent, never rounding a non-certain value up to 100%."""
    if p < 1.0 and round(p * 100) >= 100:
        return ">99%"
    if p > 0.0 and round(p * 100) <= 0:
        return "<1%"
    return f"{p * 100:.0f}%"


def as_unit_pixels(arr: np.ndarray, name: str) -> npt.NDArray[np.float64]:
    """Pixel values as floats in [0, 1]: bools, integers 0..255 (scaled) or floats already in
    [0, 1] (a 1e-3 tolerance is clipped away); anything else is a ValueError naming ``name``."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"integer {name} must hold 0..255; got values {arr.min()} to {arr.max()}"
            )
        return arr.astype(np.float64) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be floats in [0, 1] or uint8; got dtype {arr.dtype}")
    return as_unit_floats(arr, name, hint=" (undo any normalisation, or pass uint8 0..255)")


def as_unit_floats(
    arr: np.ndarray, name: str, *, plural: bool = False, hint: str = ""
) -> npt.NDArray[np.float64]:
    """``arr`` as finite floats in [0, 1], a 1e-3 tolerance clipped away; otherwise a
    ValueError naming ``name`` (a plural noun with ``plural``), ending with ``hint``."""
    out = arr.astype(np.float64)
    if out.size:
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name} {'contain' if plural else 'contains'} NaN or infinite values")
        lo, hi = float(out.min()), float(out.max())
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise ValueError(f"{name} must lie in [0, 1]; got values {lo:.3g} to {hi:.3g}{hint}")
    return np.clip(out, 0.0, 1.0)


def at_least_one(name: str, value: int) -> None:
    """Reject a count limit such as ``max_items`` below 1, naming it."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def as_names(names: Sequence[object], what: str) -> list[str]:
    """``names`` (class names, say) as strings; an empty list is a ValueError naming ``what``."""
    out = [str(name) for name in names]
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def as_confusion(matrix: npt.ArrayLike, n_names: int) -> npt.NDArray[np.float64]:
    """A confusion matrix as floats: square, one row per class name, finite and ≥ 0."""
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"the confusion matrix must be square (C, C); got shape {arr.shape}")
    if arr.shape[0] != n_names:
        raise ValueError(
            f"the confusion matrix is {arr.shape[0]}×{arr.shape[0]} but there are "
            f"{n_names} class names"
        )
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise ValueError("the confusion matrix must hold finite, non-negative counts")
    return arr


def count_text(value: float) -> str:
    """A count with thousands separators; a fractional one (averaged counts) with 3 digits."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def accuracy_line(counts: npt.NDArray[np.float64]) -> str:
    """A confusion matrix's accuracy (its trace over its sum) as a line for a figure, e.g.
    "accuracy 97.1% (971 of 1,000)"."""
    total = float(counts.sum())
    correct = float(np.trace(counts))
    if total > 0:
        return f"accuracy {correct / total:.1%} ({count_text(correct)} of {count_text(total)})"
    return "accuracy n/a (empty matrix)"


def shown_caption(n: int, n_all: int, n_correct: int | None) -> str:
    """The caption of Figure 3: how many of the ``n`` items shown are correct (``n_correct``,
    None when there are no labels), and that they are the first ``n`` of ``n_all``."""
    more = f" (first {n} of {n_all})" if n_all > n else ""
    if n_correct is None:
        return f"{n} shown, no labels given{more}"
    return f"{n_correct} correct of {n} shown{more}"


def params_summary(total: int) -> str:
    """The summary line of Figure 1, e.g. "1,234 trainable parameters in total"."""
    noun = "parameter" if total == 1 else "parameters"
    return f"{total:,} trainable {noun} in total"


def three_digits(value: float) -> str:
    """``value`` with 3 significant digits: activations and weights in labels."""
    return f"{value:.3g}"


def as_finite(values: Any, name: str, ndim: int) -> Float:
    """``values`` as a float array with ``ndim`` dimensions and only finite entries."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_image(values: Any, name: str, ndim: int = 2) -> Float:
    """An image (``ndim`` = 2) or a stack of images (3) as floats in [0, 1].

    Accepts uint8-style integers 0..255 or floats in [0, 1]; a singleton channel axis is
    dropped.
    """
    arr = np.asarray(values)
    if arr.ndim == ndim + 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    elif arr.ndim == ndim + 1 and arr.shape[-3] == 1:
        arr = arr[0] if ndim == 2 else arr[:, 0]
    shape = "(H, W)" if ndim == 2 else "(K, H, W)"
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}")
    if ndim == 2 and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return as_unit_pixels(arr, name)


def as_top(top: Any, name: str) -> list[tuple[str, float]]:
    """``top`` as a non-empty list of (class name, probability in [0, 1]) pairs."""
    try:
        pairs = [(str(cls), float(p)) for cls, p in top]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (class name, probability) pairs") from None
    if not pairs:
        raise ValueError(f"{name} is empty: give at least the predicted (class, probability)")
    for cls, p in pairs:
        if not math.isfinite(p) or p < -1e-6 or p > 1.0 + 1e-6:
            raise ValueError(f"{name}: the probability of {cls!r} must lie in [0, 1]; got {p!r}")
    return [(cls, min(max(p, 0.0), 1.0)) for cls, p in pairs]


def as_named_arrays(layers: Any, name: str, ndim: int) -> list[tuple[str, Float]]:
    """``layers`` as a non-empty list of (name, finite ``ndim``-D array)."""
    try:
        items = [(str(layer_name), values) for layer_name, values in layers]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (name, array) pairs") from None
    if not items:
        raise ValueError(f"{name} is empty")
    return [(n, as_finite(v, f"{name}[{i}] ({n!r})", ndim)) for i, (n, v) in enumerate(items)]


def as_class_indices(
    values: Any, name: str, n: int, n_classes: int, items: str
) -> npt.NDArray[np.int64]:
    """``values`` as ``n`` class indices in 0..n_classes-1, errors naming the argument."""
    arr = np.asarray(values).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} {items}")
    try:
        return as_labels(arr, n, n_classes, items=items)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
