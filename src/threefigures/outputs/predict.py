"""Predictions for image files: each preprocessed as MNIST was made, then classified in one
batch; a bad file gets its own one-line error and the rest go on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.errors import ConfigError, ImageError
from threefigures.training import predict_proba


@dataclass
class Prediction:
    path: str
    label: int | None = None
    class_name: str | None = None
    probabilities: list[float] | None = None
    top: list[tuple[str, float]] | None = None
    image: np.ndarray | None = None  # (28, 28) float in [0, 1], what the network saw
    inverted: bool | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.path}
        if self.error is not None:
            out["error"] = self.error
            return out
        out.update(
            {
                "class": self.class_name,
                "index": self.label,
                "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top or []],
                "probabilities": [round(p, 6) for p in self.probabilities or []],
                "inverted": self.inverted,
                "notes": list(self.notes),
            }
        )
        return out


def require_image_model(model: nn.Module) -> None:
    """A model that reads a table's rows cannot take an image: one clear line."""
    shape = tuple(getattr(getattr(model, "config", None), "input_shape", ()))
    if len(shape) == 1:
        raise ConfigError(
            f"this run reads a table of {shape[0]} features per case (breast-cancer), not "
            "images; its report explains its test cases"
        )


def predict_images(
    paths: Sequence[str | Path], model: nn.Module, classes: list[str], *, top_k: int = 3
) -> list[Prediction]:
    """Classify image files; each bad file gets its own one-line error, the rest go on."""
    require_image_model(model)
    from threefigures.data.preprocess import preprocess_path  # scipy: only when predicting

    results: list[Prediction] = []
    ready: list[tuple[int, np.ndarray]] = []
    for path in paths:
        try:
            pre = preprocess_path(path)
        except ImageError as exc:
            results.append(Prediction(path=str(path), error=str(exc)))
            continue
        results.append(
            Prediction(path=str(path), image=pre.image, inverted=pre.inverted, notes=pre.notes)
        )
        ready.append((len(results) - 1, pre.image))
    if ready:
        images = np.stack([img for _i, img in ready])  # (N, 28, 28)
        batch = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
        probs = predict_proba(model, batch).numpy()
        for (i, _img), row in zip(ready, probs, strict=True):
            order = np.argsort(-row)[:top_k]
            pred = results[i]
            pred.label = int(order[0])
            pred.class_name = classes[pred.label]
            pred.probabilities = [float(p) for p in row]
            pred.top = [(classes[j], float(row[j])) for j in order]
    return results


def safe_stem(path: str, index: int, fallback: str = "image") -> str:
    """A file name stem from a user's path: numbered (inputs may share names) and limited
    to characters every file system accepts."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:60] or fallback
    return f"{index:03d}-{stem}"


def save_network_inputs(results: Sequence[Prediction], folder: Path) -> None:
    """Write the 28×28 image the network saw for each prediction (``--show-input``),
    noting the file in the prediction."""
    from PIL import Image

    from threefigures.data.preprocess import to_uint8

    folder.mkdir(parents=True, exist_ok=True)
    for i, res in enumerate(results):
        if res.image is not None:
            target = folder / f"{safe_stem(res.path, i)}.png"
            Image.fromarray(to_uint8(res.image), mode="L").save(target)
            res.notes = (*res.notes, f"network input written to {target}")


def explain_predictions(
    model: nn.Module,
    results: Sequence[Prediction],
    classes: list[str],
    folder: Path,
    *,
    method: str,
) -> dict[int, Path]:
    """An attribution heatmap per successful prediction (``predict --explain``), in one
    batch; returns the figure written for each prediction's index and notes it there."""
    from threefigures.outputs.inside import draw_image_attributions

    ready = [(i, r) for i, r in enumerate(results) if r.image is not None]
    if not ready:
        return {}
    _attr, written = draw_image_attributions(
        model,
        np.stack([r.image for _i, r in ready if r.image is not None]),  # (N, 28, 28)
        classes,
        [folder / f"{safe_stem(r.path, i)}-{method}.png" for i, r in ready],
        method=method,
    )
    figures: dict[int, Path] = {}
    for (i, res), path in zip(ready, written, strict=True):
        figures[i] = path
        res.notes = (*res.notes, f"{method} heatmap written to {path}")
    return figures
