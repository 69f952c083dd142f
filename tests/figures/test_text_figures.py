"""Tests for the transformer text figures (threefigures.figures.inside.text)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from threefigures.figures.inside import draw_head_attention, draw_token_attribution
from threefigures.figures.inside.text import MAX_TOKEN_TEXTS, _wrap

#: A guard against pathological drawing code, not a speed target (as in test_inside_figures).
MAX_SECONDS = 10.0

REVIEW = (
    "i have been taking this medication for three months and the side ##effects were "
    "terrible . my doctor said it would help with anxiety but it made me feel dizzy , "
    "nause ##ous and tired all day . the pain went away after two weeks , which is great !"
)
WORDS = REVIEW.split()


def _tokens(n: int) -> list[str]:
    """``n`` WordPiece tokens of a made-up review, with [CLS] first and [SEP] last."""
    return ["[CLS]"] + [WORDS[i % len(WORDS)] for i in range(n - 2)] + ["[SEP]"]


def _item(n: int, rng: np.random.Generator, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tokens": _tokens(n),
        "scores": rng.normal(size=n),
        "top": [("negative", 0.81), ("neutral", 0.12), ("positive", 0.07)],
        "true": "negative",
        "note": None,
    }
    item.update(extra)
    return item


def _attention(layers: int, heads: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Softmax attention, (layers, heads, n, n), heavy on the first and last token."""
    logits = rng.normal(size=(layers, heads, n, n))
    logits[..., 0] += 2.0
    logits[..., -1] += 1.5
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum(axis=-1, keepdims=True))


def _draw(draw: Callable[[], Path], target: Path) -> tuple[int, int]:
    """Run ``draw`` under the CPU-time limit; check that it wrote a non-blank PNG that PIL
    opens, left nothing else behind and closed its figure; return the image's size."""
    start = time.process_time()
    out = draw()
    elapsed = time.process_time() - start
    assert elapsed < MAX_SECONDS, f"{target.name} took {elapsed:.2f}s of CPU"
    assert out == target
    assert not plt.get_fignums(), "a figure was left open"
    with Image.open(out) as img:
        assert img.format == "PNG"
        size = img.size
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert pixels.std() > 5.0, f"{target.name} looks blank"
    assert max(size) <= 6000, f"{target.name} is {size}"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    return size


def _nothing_written(tmp_path: Path) -> None:
    assert not any(tmp_path.iterdir()), "a failed drawing left a file behind"


# --- draw_token_attribution ----------------------------------------------------------------------


def test_token_attribution_one_short_text(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    target = tmp_path / "one.png"
    item = _item(12, rng, true="positive", note="cut to 12 tokens")
    width, height = _draw(lambda: draw_token_attribution([item], target, method="saliency"), target)
    assert width > 1000 and height > 200


def test_token_attribution_long_texts_grow_the_figure(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    short = tmp_path / "short" / "t.png"
    long = tmp_path / "long" / "t.png"
    _, short_h = _draw(lambda: draw_token_attribution([_item(20, rng)], short, method="ig"), short)
    items = [
        _item(200, rng, note="cut to 200 tokens"),
        _item(30, rng, true=None, top=[("positive", 0.999)]),
        _item(256, rng, true="neutral"),
    ]
    _, long_h = _draw(
        lambda: draw_token_attribution(items, long, method="integrated gradients"), long
    )
    assert long_h > 3 * short_h


def test_token_attribution_caps_texts_and_tokens(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    items = [_item(600, rng)] + [_item(8, rng) for _ in range(MAX_TOKEN_TEXTS + 2)]
    target = tmp_path / "many.png"
    _draw(lambda: draw_token_attribution(items, target, method="ig", title="Many"), target)


def test_token_attribution_odd_tokens(tmp_path: Path) -> None:
    """Specials only, padding, a "$" (no mathtext), a leading "##" piece, a huge word."""
    item = {
        "tokens": ["##ing", "$", "x" * 400, "$5$", "[PAD]", "[UNK]", "[SEP]", "[PAD]"],
        "scores": [0.0, 1.0, -2.0, 0.5, 9.0, 0.1, 0.0, 0.0],
        "top": [("a" * 80, 1.0)],
        "true": "b" * 80,
        "note": "n" * 300,
    }
    specials = {"tokens": ["[CLS]", "[SEP]"], "scores": [0.0, 0.0], "top": [("x", 0.5)]}
    target = tmp_path / "odd.png"
    _draw(lambda: draw_token_attribution([item, specials], target, method="ig"), target)


def test_wrap_joins_pieces_and_wraps_words() -> None:
    tokens = ["[CLS]", "side", "##effects", "were", "bad", "[PAD]", "[SEP]"]
    boxes, lines = _wrap(tokens, np.arange(7, dtype=np.float64), 100.0)
    assert lines == 1
    assert [b.shown for b in boxes] == ["[CLS]", "side", "effects", "were", "bad", "[SEP]"]
    side, effects, were = boxes[1], boxes[2], boxes[3]
    assert effects.x == pytest.approx(side.x + side.w)  # pieces touch
    assert were.x > effects.x + effects.w  # words do not
    assert [b.special for b in boxes] == [True, False, False, False, False, True]
    # A narrow line wraps whole words: "side"+"effects" never split while they fit.
    boxes, lines = _wrap(tokens, np.zeros(7), 1.2)
    assert lines > 1
    assert boxes[1].line == boxes[2].line
    assert all(b.x + b.w <= 1.2 + 1e-9 for b in boxes)


@pytest.mark.parametrize(
    ("items", "kwargs", "match"),
    [
        ([], {}, "items is empty"),
        ({"tokens": ["a"], "scores": [0.0], "top": [("x", 1.0)]}, {}, "not a single dict"),
        (["text"], {}, r"items\[0\] must be a dict"),
        ([{"tokens": ["a"], "scores": [0.0]}], {}, "lacks 'top'"),
        ([{"tokens": "ab", "scores": [0.0, 0.0], "top": [("x", 1.0)]}], {}, "list of token"),
        ([{"tokens": [], "scores": [], "top": [("x", 1.0)]}], {}, "tokens'] is empty"),
        ([{"tokens": ["a", "b"], "scores": [0.0], "top": [("x", 1.0)]}], {}, "one score per"),
        ([{"tokens": ["a", "b"], "scores": [0.0, np.nan], "top": [("x", 1)]}], {}, "NaN"),
        ([{"tokens": ["a"], "scores": [[0.0]], "top": [("x", 1.0)]}], {}, "must be 1-D"),
        ([{"tokens": ["a"], "scores": [0.0], "top": [("x", 1.5)]}], {}, r"in \[0, 1\]"),
        ([{"tokens": ["a"], "scores": [0.0], "top": []}], {}, "top'] is empty"),
        ([{"tokens": ["a"], "scores": [0.0], "top": [("x", 1.0)]}], {"method": " "}, "method"),
    ],
)
def test_token_attribution_rejects(
    tmp_path: Path, items: Any, kwargs: dict[str, Any], match: str
) -> None:
    args = {"method": "ig", **kwargs}
    with pytest.raises(ValueError, match=match):
        draw_token_attribution(items, tmp_path / "bad.png", **args)
    _nothing_written(tmp_path)


# --- draw_head_attention -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "heads", "n"),
    [(1, 1, 3), (2, 2, 8), (6, 12, 60), (6, 12, 200), (12, 16, 40)],
)
def test_head_attention(tmp_path: Path, layers: int, heads: int, n: int) -> None:
    rng = np.random.default_rng(layers * 100 + n)
    target = tmp_path / "att.png"
    size = _draw(
        lambda: draw_head_attention(
            _tokens(n), _attention(layers, heads, n, rng), target, predicted="negative (81%)"
        ),
        target,
    )
    assert size[0] >= 700 and size[1] >= 300


def test_head_attention_accepts_a_tuple_of_tokens_and_a_title(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    target = tmp_path / "att.png"
    toks = tuple(_tokens(5))
    _draw(lambda: draw_head_attention(toks, _attention(1, 2, 5, rng), target, title="T"), target)


_GOOD = np.full((2, 2, 3, 3), 1 / 3)


def _bad_row() -> np.ndarray:
    att = _GOOD.copy()
    att[1, 0, 2] = [0.5, 0.5, 0.01]
    return att


def _negative() -> np.ndarray:
    att = _GOOD.copy()
    att[0, 0, 0] = [1.2, -0.2, 0.0]
    return att


@pytest.mark.parametrize(
    ("tokens", "attention", "match"),
    [
        (list("abc"), np.full((2, 3, 3), 1 / 3), "must be 4-D"),
        (list("abc"), np.full((1, 2, 2, 3, 3), 1 / 3), "must be 4-D"),
        (list("abc"), np.full((2, 2, 3, 4), 1 / 4), "last two axes differ"),
        (list("ab"), _GOOD, "covers 3 tokens but tokens has 2"),
        ([], np.zeros((1, 1, 0, 0)), "tokens is empty"),
        ("abc", _GOOD, "list of token strings"),
        (list("abc"), np.where(np.eye(3, dtype=bool), np.nan, 0.5)[None, None], "NaN"),
        (list("abc"), _bad_row(), "layer 2, head 1, query token 2 sums to 1.01"),
        (list("abc"), _GOOD * 1.002, "must sum to 1"),
        (list("abc"), _negative(), "non-negative"),
    ],
)
def test_head_attention_rejects(
    tmp_path: Path, tokens: Any, attention: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        draw_head_attention(tokens, attention, tmp_path / "bad.png")
    _nothing_written(tmp_path)


def test_head_attention_tolerates_rounding(tmp_path: Path) -> None:
    target = tmp_path / "ok.png"
    _draw(lambda: draw_head_attention(list("abc"), _GOOD * 1.0005, target), target)
