"""Input checks and number formats shared by the figures (numpy only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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
    out = arr.astype(np.float64)
    if out.size:
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name} contains NaN or infinite values")
        lo, hi = float(out.min()), float(out.max())
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise ValueError(
                f"{name} must lie in [0, 1]; got values {lo:.3g} to {hi:.3g} "
                "(undo any normalisation, or pass uint8 0..255)"
            )
    return np.clip(out, 0.0, 1.0)
