"""Texts read by a transformer: which WordPiece tokens drove a prediction, and where its
attention heads look."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from .._checks import Float, as_finite, as_top, percent
from .._layout import HEADER_H, MARGIN, add_patches, axes_at, frame, headed_figure
from .._style import FAINT, GREEN, INK, MONO, MUTED, RED, PathLike, inch_canvas, truncate
from ._common import DIVERGING, SEQUENTIAL, colorbar, save_figure, sym

#: At most this many texts are drawn by :func:`draw_token_attribution`.
MAX_TOKEN_TEXTS = 6
#: At most this many tokens of one text are drawn by :func:`draw_token_attribution`.
MAX_TEXT_TOKENS = 512
#: Special tokens drawn small and grey, without a score, by :func:`draw_token_attribution`.
SPECIAL_TOKENS = frozenset({"[CLS]", "[SEP]", "[MASK]"})
#: Tokens left out altogether by :func:`draw_token_attribution`.
PAD_TOKEN = "[PAD]"
#: With more tokens than this, :func:`draw_head_attention` labels only every k-th one.
MAX_TOKEN_LABELS = 60

# Token boxes of draw_token_attribution, in inches. A DejaVu Sans Mono character is 0.602 em
# wide; Agg rounds each advance to whole pixels, up to 3.5% wider at 110-150 dpi, and a box
# must hold its longest token.
_TOKEN_PT = 8.5
_SPECIAL_PT = 6.5
_CHAR_W = 1.035 * 0.602 * _TOKEN_PT / 72.0
_SPECIAL_CHAR_W = 1.035 * 0.602 * _SPECIAL_PT / 72.0
_BOX_PAD = 0.05
_WORD_GAP = 0.08
_LINE_H = 0.25
_BOX_H = 0.2
_TEXT_WIDTH = 10.6  # width of the wrapped text lines
_INDENT = 0.2  # text lines sit this far right of the item's header
_ITEM_HEAD_H = 0.3
_ITEM_GAP = 0.22
#: Names and notes in an item's header are cut to this many characters.
_HEAD_NAME_LIMIT = 24
_NOTE_LIMIT = 60


@dataclass(frozen=True)
class _Text:
    """One checked item of :func:`draw_token_attribution`."""

    tokens: list[str]
    scores: Float
    top: list[tuple[str, float]]
    true: str | None
    note: str


@dataclass(frozen=True)
class _Box:
    """One token placed on a line: x from the line's start, its width, what it shows."""

    line: int
    x: float
    w: float
    shown: str
    score: float
    special: bool


def _as_tokens(tokens: Any, name: str) -> list[str]:
    """``tokens`` as a non-empty list of strings (a bare string is refused: it is not a list)."""
    if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence):
        raise ValueError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    out = [str(t) for t in tokens]
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def _check_texts(items: Sequence[Mapping[str, Any]]) -> list[_Text]:
    """The items of :func:`draw_token_attribution`, checked."""
    if isinstance(items, Mapping):
        raise ValueError("items must be a list of dicts (one per text), not a single dict")
    texts: list[_Text] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"items[{i}] must be a dict with 'tokens', 'scores' and 'top'")
        missing = [key for key in ("tokens", "scores", "top") if key not in item]
        if missing:
            raise ValueError(f"items[{i}] lacks {', '.join(repr(m) for m in missing)}")
        tokens = _as_tokens(item["tokens"], f"items[{i}]['tokens']")
        scores = as_finite(item["scores"], f"items[{i}]['scores']", 1)
        if scores.shape[0] != len(tokens):
            raise ValueError(
                f"items[{i}]['scores'] has {scores.shape[0]} values but there are "
                f"{len(tokens)} tokens; give one score per token"
            )
        pairs = as_top(item["top"], f"items[{i}]['top']")
        true = item.get("true")
        note = item.get("note")
        texts.append(
            _Text(
                tokens,
                scores,
                pairs,
                None if true is None else str(true),
                "" if note is None else str(note).strip(),
            )
        )
    if not texts:
        raise ValueError("items is empty: there is nothing to draw")
    return texts


def _wrap(tokens: Sequence[str], scores: Float, width: float) -> tuple[list[_Box], int]:
    """Place ``tokens`` on lines at most ``width`` inches long; return the boxes and the number
    of lines.

    A "##" piece is drawn without its "##", right after the piece before it (no gap), so a
    word's pieces touch; words are ``_WORD_GAP`` apart and wrap as a whole unless one word is
    longer than a line. ``[PAD]`` is left out; special tokens get a narrower box.
    """
    # Words: runs of a first piece and its "##" continuations; each special token is its own.
    words: list[list[tuple[str, float, bool]]] = []
    for tok, score in zip(tokens, scores, strict=True):
        if tok == PAD_TOKEN:
            continue
        special = tok in SPECIAL_TOKENS
        if tok.startswith("##") and len(tok) > 2 and words and not words[-1][-1][2]:
            words[-1].append((tok[2:], float(score), False))
        else:
            words.append([(tok, float(score), special)])

    max_chars = max(int((width - _BOX_PAD) / _CHAR_W), 1)
    boxes: list[_Box] = []
    line, x = 0, 0.0
    for word in words:
        pieces = []
        for shown, score, special in word:
            char_w = _SPECIAL_CHAR_W if special else _CHAR_W
            shown = truncate(shown, max_chars)
            pieces.append((shown, score, special, max(len(shown), 1) * char_w + _BOX_PAD))
        word_w = sum(p[3] for p in pieces)
        if x > 0.0:
            if x + _WORD_GAP + word_w > width:
                line, x = line + 1, 0.0
            else:
                x += _WORD_GAP
        for shown, score, special, w in pieces:
            if x > 0.0 and x + w > width:  # a word longer than a line: break it between pieces
                line, x = line + 1, 0.0
            boxes.append(_Box(line, x, w, shown, score, special))
            x += w
    return boxes, (line + 1 if boxes else 1)


def _item_header(canvas: Axes, x: float, y: float, right: float, number: int, text: _Text) -> None:
    """Write an item's header at (x, y) inches: its number, the prediction (green when right,
    red when wrong), the true class, then in muted grey the runner-up and the note, one after
    the other; the muted part is shortened to end before ``right``."""
    name, p = text.top[0]
    if text.true is None:
        colour, verdict = INK, ""
    elif text.true == name:
        colour, verdict = GREEN, " · true class ✓"
    else:
        colour, verdict = RED, f" · true: {truncate(text.true, _HEAD_NAME_LIMIT)} ✗"
    parts: list[tuple[str, str, str]] = [
        (f"{number}.  ", INK, "bold"),
        (f"predicted {truncate(name, _HEAD_NAME_LIMIT)} ({percent(p)}){verdict}", colour, "bold"),
    ]
    rest = []
    if len(text.top) > 1:
        second, p2 = text.top[1]
        rest.append(f"next: {truncate(second, _HEAD_NAME_LIMIT)} ({percent(p2)})")
    if text.note:
        rest.append(truncate(text.note, _NOTE_LIMIT))
    if rest:
        parts.append(("   " + " · ".join(rest), MUTED, "normal"))
    # Each part starts where the one before it ends (matplotlib places them when drawing).
    previous: Text | None = None
    for part, part_colour, weight in parts:
        style: dict[str, Any] = {
            "fontsize": 9,
            "color": part_colour,
            "fontweight": weight,
            "va": "bottom",
            "parse_math": False,
        }
        if previous is None:
            previous = canvas.text(x, y, part, **style)
        else:
            previous = canvas.annotate(part, xy=(1, 0), xycoords=previous, **style)
    if rest and previous is not None:
        _fit(previous, right)


def _fit(label: Text, right: float) -> None:
    """Shorten ``label`` (with an ellipsis) until it ends left of ``right`` inches."""
    full = label.get_text()
    dpi = label.get_figure(root=True).dpi  # type: ignore[union-attr]
    for _ in range(4):
        bbox = label.get_window_extent()
        end, start = bbox.x1 / dpi, bbox.x0 / dpi
        if end <= right:
            return
        shown = label.get_text()
        keep = int(len(shown) * (right - start) / max(end - start, 1e-6)) - 1
        label.set_text(truncate(full, keep) if keep > 4 else "")


def draw_token_attribution(
    items: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    method: str,
    title: str = "",
) -> Path:
    """Draw texts as wrapped WordPiece tokens, each shaded by its attribution; return the path.

    Every token sits in its own box coloured by its score on one diverging scale shared by all
    texts and symmetric around 0 (red raises the explained class's score, blue lowers it,
    white is no effect), the colours of :func:`.attribution.draw_sequence_attribution`.
    Continuation pieces ("##ing") are drawn without their "##", touching the piece before
    them, so a word reads as one run of boxes that keeps each piece's own score (scores are
    not summed). Words wrap as a whole at a fixed line width (a word longer than a line breaks
    between pieces), so the figure grows in height with the texts' length; a text is cut after
    :data:`MAX_TEXT_TOKENS` tokens. ``[CLS]``, ``[SEP]`` and ``[MASK]`` are drawn small in grey
    without a colour, and their scores do not count towards the colour scale; ``[PAD]`` is
    left out. Each text opens with a header: its number, the top prediction and probability
    (green when it is the true class, red with the true class when it is not, ink when the
    true class is unknown), the runner-up and the note. At most :data:`MAX_TOKEN_TEXTS` texts
    are drawn; the subtitle says when more were given.

    Args:
        items: dicts with ``"tokens"`` (list of WordPiece strings), ``"scores"`` (one float per
            token), ``"top"`` ([(class, probability), …], most probable first) and optionally
            ``"true"`` (the true class name or None) and ``"note"`` (a short muted remark such
            as "cut to 128 tokens", or None).
        path: Where to write the image.
        method: The attribution method's name.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If there are no items, an item lacks a key, its tokens are empty or not a
            list, the scores do not match the tokens in number or are not finite, ``top`` is
            not a list of probabilities, or ``method`` is empty.
    """
    method_name = str(method).strip()
    if not method_name:
        raise ValueError("method must name the attribution method (e.g. 'integrated-gradients')")
    texts = _check_texts(items)
    n_all = len(texts)
    texts = texts[:MAX_TOKEN_TEXTS]
    n = len(texts)

    placed: list[tuple[list[_Box], int]] = []
    for text in texts:
        toks, scores = text.tokens[:MAX_TEXT_TOKENS], text.scores[:MAX_TEXT_TOKENS]
        placed.append(_wrap(toks, scores, _TEXT_WIDTH))
    scored = [np.array([b.score for b in boxes if not b.special]) for boxes, _n in placed]
    lim = max(sym(s) for s in scored)
    norm = Normalize(-lim, lim)
    cmap = colormaps[DIVERGING]

    width = 2 * MARGIN + _INDENT + _TEXT_WIDTH
    foot_h = 0.75
    blocks = [_ITEM_HEAD_H + lines * _LINE_H + _ITEM_GAP for _b, lines in placed]
    height = HEADER_H + 0.1 + sum(blocks) + foot_h

    labelled = [t for t in texts if t.true is not None]
    more = f" (first {n} of {n_all})" if n_all > n else ""
    if labelled:
        right = sum(1 for t in labelled if t.top[0][0] == t.true)
        subtitle = f"{right} correct of {len(labelled)} with a known class{more}"
    else:
        subtitle = f"{n} {'text' if n == 1 else 'texts'}{more}"
    key = (
        "each box is one WordPiece token (a word's pieces touch) · red = raises the explained "
        "class's score, blue = lowers it · one scale for all texts · grey [CLS]/[SEP]: not shaded"
    )
    with headed_figure(
        width, height, title or f"Which tokens mattered ({method_name})", subtitle, key
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        top = height - HEADER_H - 0.1
        fills: list[Rectangle] = []
        for i, (text, (boxes, _lines), block) in enumerate(zip(texts, placed, blocks, strict=True)):
            if i > 0:
                canvas.plot([MARGIN, width - MARGIN], [top, top], color=FAINT, linewidth=0.6)
            _item_header(canvas, MARGIN, top - _ITEM_HEAD_H + 0.07, width - MARGIN, i + 1, text)
            cut = len(text.tokens) - MAX_TEXT_TOKENS
            rgba = cmap(norm(np.array([b.score for b in boxes])))
            x0 = MARGIN + _INDENT
            for b, colour in zip(boxes, rgba, strict=True):
                cy = top - _ITEM_HEAD_H - (b.line + 0.5) * _LINE_H
                if b.special:
                    canvas.text(
                        x0 + b.x + b.w / 2,
                        cy,
                        b.shown,
                        ha="center",
                        va="center",
                        fontsize=_SPECIAL_PT,
                        family=MONO,
                        color=MUTED,
                        parse_math=False,
                    )
                    continue
                fills.append(
                    Rectangle(
                        (x0 + b.x, cy - _BOX_H / 2),
                        b.w,
                        _BOX_H,
                        facecolor=colour,
                        edgecolor=FAINT,
                        linewidth=0.4,
                    )
                )
                light = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
                canvas.text(
                    x0 + b.x + b.w / 2,
                    cy,
                    b.shown,
                    ha="center",
                    va="center",
                    fontsize=_TOKEN_PT,
                    family=MONO,
                    color="white" if light < 0.5 else INK,
                    parse_math=False,
                )
            if cut > 0 and boxes:
                last = boxes[-1]
                cy = top - _ITEM_HEAD_H - (last.line + 0.5) * _LINE_H
                canvas.text(
                    x0 + min(last.x + last.w + 0.08, _TEXT_WIDTH - 0.9),
                    cy,
                    f"… {cut} more",
                    va="center",
                    fontsize=7.5,
                    color=MUTED,
                )
            top -= block
        add_patches(canvas, fills)

        cax = axes_at(fig, width, height, MARGIN, 0.35, 3.0, 0.1)
        colorbar(
            fig,
            cax,
            cmap,
            norm,
            f"{method_name} attribution per token · red raises the explained class, "
            "blue lowers it, white = no effect",
            horizontal=True,
        )
        return save_figure(fig, path)


def _attention(attention: Any, n_tokens: int) -> Float:
    """``attention`` as a finite (layers, heads, T, T) array of non-negative rows summing to 1
    (within 1e-3), with T = ``n_tokens``."""
    att = as_finite(attention, "attention", 4)
    t_query, t_key = att.shape[2:]
    if t_query != t_key:
        raise ValueError(
            f"attention must have shape (layers, heads, T, T); its last two axes differ: "
            f"{att.shape}"
        )
    if t_key != n_tokens:
        raise ValueError(f"attention covers {t_key} tokens but tokens has {n_tokens}")
    if float(att.min()) < -1e-6:
        raise ValueError(f"attention must be non-negative; the smallest is {float(att.min()):.3g}")
    sums = att.sum(axis=-1)
    worst = np.unravel_index(int(np.argmax(np.abs(sums - 1.0))), sums.shape)
    if abs(float(sums[worst]) - 1.0) > 1e-3:
        layer, head, query = (int(k) for k in worst)
        raise ValueError(
            "each row of attention must sum to 1 (softmax over the keys); layer "
            f"{layer + 1}, head {head + 1}, query token {query} sums to {float(sums[worst]):.4g}"
        )
    return np.clip(att, 0.0, None)


def _token_ticks(ax: Axes, labels: list[str], every: int, *, top: bool, fontsize: float) -> None:
    """Label every ``every``-th column of ``ax`` with its token, turned 90°, above or under it."""
    ticks = list(range(0, len(labels), every))
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[t] for t in ticks], rotation=90, fontsize=fontsize, parse_math=False)
    if top:
        ax.xaxis.tick_top()
    ax.tick_params(axis="x", length=2, pad=2)


def draw_head_attention(
    tokens: Sequence[str],
    attention: np.ndarray,
    path: PathLike,
    *,
    title: str = "",
    predicted: str | None = None,
) -> Path:
    """Draw how much attention each token receives in every head and layer; return the path.

    Each head is one row of a heatmap with the tokens along x: the attention a token receives
    there, averaged over all query tokens (``attention[l, h, :, t].mean()``), so every row sums
    to 1 and an even spread gives each token 1/T. Rows are labelled "L1 H1", "L1 H2", … with a
    white line between layers (on very tall grids only the layers are labelled). A small panel
    under it shows each layer's mean over its heads. Both share one sequential colour scale on
    a square-root stretch, so the few tokens that gather most attention ([CLS], [SEP],
    punctuation) do not wash out the rest. Tokens label the columns above the heads and under
    the layer panel; with more than :data:`MAX_TOKEN_LABELS` tokens only every k-th is labelled
    (the axis label says which k).

    Args:
        tokens: The T tokens, as the model saw them (pass no padding: cut it from both).
        attention: (layers, heads, T, T) attention weights, ``attention[l, h, q, k]`` the
            weight query ``q`` gives key ``k``; each row (over k) sums to 1.
        path: Where to write the image.
        title: Heading; a default one is used when empty.
        predicted: The network's answer (e.g. "positive (93%)"), shown under the heading.

    Raises:
        ValueError: If ``attention`` is not 4-D, not square in its last two axes, has another
            T than ``tokens`` has tokens, holds negative or non-finite values, or has a row that
            does not sum to 1 within 1e-3; or if ``tokens`` is empty or not a list.
    """
    toks = _as_tokens(tokens, "tokens")
    att = _attention(attention, len(toks))
    n_layers, n_heads, n, _ = att.shape
    received = att.mean(axis=2)  # (layers, heads, T): what each key token gets
    per_head = received.reshape(n_layers * n_heads, n)
    per_layer = received.mean(axis=1)
    vmax = float(per_head.max())
    norm = PowerNorm(0.5, vmin=0.0, vmax=vmax if vmax > 0 else 1.0)
    cmap = colormaps[SEQUENTIAL]

    rows = n_layers * n_heads
    row_h = 0.13 if rows * 0.13 <= 16.0 else max(16.0 / rows, 0.02)
    label_heads = row_h >= 0.1
    layer_h = 0.16
    every = 1 if n <= MAX_TOKEN_LABELS else math.ceil(n / MAX_TOKEN_LABELS)
    labels = [truncate(t, 12) for t in toks]
    tick_fs = 7.0 if n <= MAX_TOKEN_LABELS else 6.5
    longest = max(len(labels[t]) for t in range(0, n, every))
    label_h = 0.12 + 0.058 * tick_fs / 7.0 * longest

    left = 0.75
    heat_w = max(5.0, min(n * 0.14, 12.0))
    right = 1.25
    width = max(left + heat_w + right, 7.5)
    head_title_h = 0.25
    heads_h = rows * row_h
    gap = 0.4
    layers_h = n_layers * layer_h
    xlabel_h = 0.3
    height = (
        HEADER_H + head_title_h + label_h + heads_h + gap + layers_h + label_h + xlabel_h + 0.15
    )

    subtitle = f"{n_layers} layers × {n_heads} heads · {n} tokens"
    if predicted:
        subtitle = f"prediction: {predicted} · {subtitle}"
    key = (
        "each row: the attention a token receives, mean over the query tokens · a row sums to "
        f"100% (an even spread: {percent(1.0 / n)} each)"
    )
    with headed_figure(
        width,
        height,
        title or "The attention of each head and layer over the review",
        subtitle,
        key,
    ) as fig:
        heads_y = height - HEADER_H - head_title_h - label_h - heads_h
        ax = axes_at(fig, width, height, left, heads_y, heat_w, heads_h)
        ax.imshow(
            per_head,
            cmap=cmap,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
            extent=(-0.5, n - 0.5, rows - 0.5, -0.5),
        )
        for layer in range(1, n_layers):
            ax.axhline(layer * n_heads - 0.5, color="white", linewidth=1.4)
        if label_heads:
            ax.set_yticks(np.arange(rows))
            ax.set_yticklabels(
                [f"L{lay + 1} H{h + 1}" for lay in range(n_layers) for h in range(n_heads)],
                fontsize=6.5 if row_h < 0.12 else 7,
            )
        else:
            ax.set_yticks(np.arange(n_layers) * n_heads + (n_heads - 1) / 2.0)
            ax.set_yticklabels([f"L{lay + 1}" for lay in range(n_layers)], fontsize=7)
        ax.tick_params(axis="y", length=0, pad=3)
        _token_ticks(ax, labels, every, top=True, fontsize=tick_fs)
        frame(ax, FAINT)
        fig.text(
            left / width,
            1 - (HEADER_H + head_title_h / 2) / height,
            f"each head ({rows} rows, layer by layer)",
            fontsize=9,
            fontweight="bold",
            va="center",
        )
        # Beside the heads, reaching down past the layer panel when there are few heads.
        bar_h = min(heads_h + gap + layers_h, 2.5)
        cax = axes_at(
            fig, width, height, left + heat_w + 0.15, heads_y + heads_h - bar_h, 0.1, bar_h
        )
        bar = colorbar(fig, cax, cmap, norm, "attention received\n(√ scale)")
        bar.ax.yaxis.set_major_locator(MaxNLocator(6))
        bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{v * 100:.0f}%")

        layers_y = heads_y - gap - layers_h
        ax_l = axes_at(fig, width, height, left, layers_y, heat_w, layers_h)
        ax_l.imshow(
            per_layer,
            cmap=cmap,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
            extent=(-0.5, n - 0.5, n_layers - 0.5, -0.5),
        )
        ax_l.set_yticks(np.arange(n_layers))
        ax_l.set_yticklabels([f"L{lay + 1}" for lay in range(n_layers)], fontsize=7)
        ax_l.tick_params(axis="y", length=0, pad=3)
        ax_l.set_title(
            f"each layer: the mean over its {n_heads} heads",
            fontsize=9,
            fontweight="bold",
            loc="left",
            pad=3,
        )
        _token_ticks(ax_l, labels, every, top=False, fontsize=tick_fs)
        ax_l.set_xlabel(
            "token" + (f" (a label every {every} tokens)" if every > 1 else ""), fontsize=8
        )
        frame(ax_l, FAINT)
        return save_figure(fig, path)
