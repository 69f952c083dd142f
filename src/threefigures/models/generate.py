"""Generate names, one character at a time, from a next-character model.

The model is any ``nn.Module`` that maps ids (B, T) and ``lengths`` (B,) to per-step
logits (B, T, V) over the vocabulary — the ``rnn`` model with ``sequence_output=True``
trained on ``names-next``. Sampling is autoregressive: start from ``<s>`` and the prefix,
read the logits at the last step, sample a character, append it, and feed the whole
sequence again (names are short, so re-reading is simple and exactly right) until ``</s>``
or ``max_length`` letters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from threefigures.data.sequences import END, PAD, START, decode, encode


@torch.no_grad()
def sample_names(
    model: nn.Module,
    vocab: list[str],
    n: int = 20,
    *,
    temperature: float = 1.0,
    prefix: str = "",
    max_length: int = 20,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Sample ``n`` names from ``model``, each starting with ``prefix``, capitalised.

    ``temperature`` divides the logits before the softmax: below 1 it sharpens the
    distribution (towards always taking the most likely character; 0.01 is in effect the
    argmax), above 1 it flattens it (towards uniform: more varied, less name-like). It must
    be a finite number > 0. ``<pad>`` and ``<s>`` are never sampled, and neither is ``</s>``
    before the name has a letter, so no name is empty. A name stops at ``</s>`` or when it has
    ``max_length`` letters (the prefix's included). ``generator`` (a CPU
    ``torch.Generator``) makes the draw reproducible. The model is put in eval mode while
    sampling (its training mode is restored after). A prefix character outside the
    vocabulary is a ``DataError`` naming it.
    """
    try:
        temp = float(temperature)
    except (TypeError, ValueError):
        temp = math.nan
    if not (math.isfinite(temp) and temp > 0):
        raise ValueError(
            "temperature must be a finite number > 0 (below 1 sharpens, above 1 flattens), "
            f"got {temperature!r}"
        )
    if n < 1:
        raise ValueError(f"n (how many names) must be at least 1, got {n}")
    for token in (PAD, START, END):
        if token not in vocab:
            raise ValueError(f"the vocabulary has no {token} token: is it a names-next vocab?")
    pad, start, end = vocab.index(PAD), vocab.index(START), vocab.index(END)
    prefix_ids = encode(prefix, vocab)  # bad characters → DataError naming them
    if max_length < max(1, len(prefix_ids)):
        raise ValueError(
            f"max_length must be at least 1 and the prefix's length ({len(prefix_ids)}), "
            f"got {max_length}"
        )

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    ids = torch.tensor([[start, *prefix_ids]], dtype=torch.int64, device=device).repeat(n, 1)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    was_training = model.training
    model.eval()
    try:
        while ids.shape[1] - 1 < max_length and not bool(done.all()):
            steps = ids.shape[1]
            lengths = torch.full((n,), steps, dtype=torch.int64, device=device)
            logits = model(ids, lengths)
            if logits.ndim != 3 or tuple(logits.shape) != (n, steps, len(vocab)):
                raise ValueError(
                    f"the model must return per-step logits (B, T, V) = ({n}, {steps}, "
                    f"{len(vocab)}), got {tuple(logits.shape)}: build it with "
                    "sequence_output=True and num_classes = vocab size"
                )
            last = logits[:, -1, :].detach().to("cpu", torch.float64)
            last[:, pad] = -math.inf
            last[:, start] = -math.inf
            if steps == 1:  # no letter yet: a name is never empty
                last[:, end] = -math.inf
            if not bool(torch.isfinite(last.max(dim=1).values).all()):
                raise ValueError("the model returned non-finite logits")
            # subtract the max first: any temperature > 0 then gives finite exponents
            scaled = (last - last.max(dim=1, keepdim=True).values) / temp
            probs = torch.softmax(scaled, dim=1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
            nxt = torch.where(done, torch.full_like(nxt, end), nxt)
            done |= nxt == end
            ids = torch.cat([ids, nxt.unsqueeze(1)], dim=1)
    finally:
        model.train(was_training)
    return [decode(row.tolist(), vocab).capitalize() for row in ids]
