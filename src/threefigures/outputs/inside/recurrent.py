"""Gates, states and attention of a recurrent network, for one input (image rows or a name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from threefigures.explain.internals import rnn_internals
from threefigures.models import Network
from threefigures.outputs.inside.common import InsideResult


def draw_recurrent(
    model: nn.Module,
    x: torch.Tensor,
    steps: list[str],
    out_dir: Path,
    result: InsideResult,
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
    result.add(
        "inside-gates",
        "Gates and hidden state",
        out_dir / "inside-gates.png",
        f"Units × time steps: {what}, then the hidden state.",
    )
    if isinstance(model, Network) and model.attends:
        alpha = model.attention_weights(x, lengths)[0]  # (T,)
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
        result.add(
            "inside-attention",
            "Attention",
            out_dir / "inside-attention.png",
            "The weight given to each step's state when forming the answer (they sum to 1).",
        )
