"""Texts typed by a user, for a stored text run (drug-reviews; names too): checked, encoded
as the run's data was, classified, and explained token by token (Captum's integrated
gradients on the embeddings) with the transformer's attention per layer and head.

Each bad text gets its own one-line error and the rest go on: an empty or whitespace-only
text, text that was not valid UTF-8 (a shell hands such bytes to Python as surrogates), and
any text given to a run that reads images. A text longer than the run's token budget is cut
and the prediction says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.config import RunConfig
from threefigures.errors import ConfigError, DataError
from threefigures.outputs.predict import safe_stem

#: The datasets whose runs read WordPiece tokens (data/text.py), not characters.
WORDPIECE_DATASETS = ("drug-reviews",)


def reads_text(config: RunConfig) -> bool:
    """Whether the run's model reads token ids (reviews or names) rather than pixels."""
    return config.model.vocab_size > 0


def check_text(text: str) -> str:
    """The text without surrounding spaces, or a :class:`DataError` saying what is wrong."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 reach Python as surrogates
        raise DataError("not valid UTF-8 text (save it as UTF-8 and try again)") from None
    stripped = text.strip()
    if not stripped:
        raise DataError("an empty text: there is nothing to classify")
    return stripped


def _require_text_run(config: RunConfig, run_id: str) -> None:
    if not reads_text(config):
        raise ConfigError(
            f"run {run_id} classifies images ({config.data.name}); --text needs a run trained "
            "on text (--data drug-reviews or names-gender)"
        )


@dataclass
class EncodedText:
    ids: list[int]
    tokens: list[str]
    notes: list[str] = field(default_factory=list)


def encode_text(text: str, config: RunConfig) -> EncodedText:
    """One checked text as the run's data was encoded: WordPiece ids for reviews (cut to the
    run's length, with a note), character ids for names."""
    if config.data.name in WORDPIECE_DATASETS:
        from threefigures.data.text import wordpiece

        budget = int(config.model.input_shape[-1])
        tokenizer = wordpiece(budget)
        encoded = tokenizer.encode([text])
        n = int(encoded.lengths[0])
        ids = encoded.ids[0, :n].tolist()
        notes = []
        if encoded.truncated[0]:
            notes.append(
                f"cut to the model's {budget} tokens (the text has {encoded.full_lengths[0]}): "
                "the rest was not read"
            )
        return EncodedText(ids, tokenizer.tokens(ids), notes)
    from threefigures.data.sequences import VOCAB, encode

    ids = encode(text, list(VOCAB), add_start=config.model.sequence_output)
    return EncodedText(ids, [VOCAB[i] for i in ids])


@dataclass
class TextPrediction:
    text: str
    class_name: str | None = None
    index: int | None = None
    probabilities: list[float] | None = None
    top: list[tuple[str, float]] | None = None
    tokens: int | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.error is not None:
            out["error"] = self.error
            return out
        out.update(
            {
                "class": self.class_name,
                "index": self.index,
                "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top or []],
                "probabilities": [round(p, 6) for p in self.probabilities or []],
                "tokens": self.tokens,
                "notes": list(self.notes),
            }
        )
        return out


def predict_texts(
    texts: Sequence[str], model: nn.Module, config: RunConfig, classes: list[str], run_id: str
) -> list[TextPrediction]:
    """Classify each text (one at a time: reviews differ in length); bad ones get an error."""
    from threefigures.training import to_probabilities

    _require_text_run(config, run_id)
    if config.model.sequence_output:
        raise ConfigError(f"run {run_id} generates names; `threefigures generate` samples it")
    model.eval()
    results: list[TextPrediction] = []
    for text in texts:
        try:
            encoded = encode_text(check_text(text), config)
        except DataError as exc:
            results.append(TextPrediction(text=text, error=str(exc)))
            continue
        x = torch.tensor([encoded.ids])  # (1, T)
        with torch.no_grad():
            logits = model(x, torch.tensor([len(encoded.ids)]))  # (1, K)
        probs = to_probabilities(logits)[0].tolist()
        names = classes if len(classes) == len(probs) else [str(i) for i in range(len(probs))]
        order = np.argsort(-np.asarray(probs))[:3]
        best = int(order[0])
        results.append(
            TextPrediction(
                text=text,
                class_name=names[best],
                index=best,
                probabilities=probs,
                top=[(names[int(j)], float(probs[int(j)])) for j in order],
                tokens=len(encoded.ids),
                notes=encoded.notes,
            )
        )
    return results


@dataclass
class TextExplanation:
    text: str
    figure: Path | None = None
    attention_figure: Path | None = None
    class_name: str | None = None
    probability: float | None = None
    target: str | None = None
    delta: float | None = None
    tokens: list[tuple[str, float]] | None = None  # (token, attribution) in reading order
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"input": self.text, "error": self.error}
        return {
            "input": self.text,
            "class": self.class_name,
            "probability": None if self.probability is None else round(self.probability, 6),
            "explained_class": self.target,
            "figure": str(self.figure),
            "attention_figure": None
            if self.attention_figure is None
            else str(self.attention_figure),
            "completeness_delta": self.delta,
            "tokens": [{"token": t, "attribution": round(a, 6)} for t, a in self.tokens or []],
            "notes": list(self.notes),
        }


def explain_texts(
    texts: Sequence[str],
    model: nn.Module,
    config: RunConfig,
    classes: list[str],
    out_dir: Path,
    run_id: str,
    *,
    method: str = "integrated-gradients",
    target: int | None = None,
) -> list[TextExplanation]:
    """For each text: per-token attribution (Captum, on the token embeddings) drawn over the
    text, and, for a transformer, its attention per layer and head."""
    from threefigures.explain.attribution import attribute
    from threefigures.figures.inside import draw_head_attention, draw_token_attribution
    from threefigures.models import Network

    _require_text_run(config, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[TextExplanation] = []
    for i, text in enumerate(texts):
        try:
            encoded = encode_text(check_text(text), config)
        except DataError as exc:
            results.append(TextExplanation(text=text, error=str(exc)))
            continue
        x = torch.tensor([encoded.ids])  # (1, T)
        lengths = torch.tensor([len(encoded.ids)])
        attr = attribute(model, x, method=method, target=target, lengths=lengths)
        probs = attr.probabilities[0]
        names = classes if len(classes) == len(probs) else [str(j) for j in range(len(probs))]
        order = np.argsort(-probs)[:3]
        scores = attr.maps[0][: len(encoded.ids)].astype(float).tolist()
        stem = safe_stem(text[:40], i, "text")
        figure = draw_token_attribution(
            [
                {
                    "tokens": encoded.tokens,
                    "scores": scores,
                    "top": [(names[int(j)], float(probs[int(j)])) for j in order],
                    "true": None,
                    "note": "; ".join(encoded.notes) or None,
                }
            ],
            out_dir / f"{stem}-{method}.png",
            method=method,
            title=f"Which tokens moved the answer ({method})",
        )
        attention_figure = None
        maps = getattr(model, "attention_maps", None)
        if isinstance(model, Network) and callable(maps):
            attention = maps(x, lengths)[:, 0].float().numpy()  # (layers, heads, T, T)
            attention_figure = draw_head_attention(
                encoded.tokens,
                attention,
                out_dir / f"{stem}-attention.png",
                title="Attention of each layer and head over the text",
                predicted=names[int(order[0])],
            )
        results.append(
            TextExplanation(
                text=text,
                figure=figure,
                attention_figure=attention_figure,
                class_name=names[int(order[0])],
                probability=float(probs[int(order[0])]),
                target=names[int(attr.targets[0])],
                delta=None if attr.delta is None else float(attr.delta[0]),
                tokens=list(zip(encoded.tokens, scores, strict=True)),
                notes=encoded.notes,
            )
        )
    return results
