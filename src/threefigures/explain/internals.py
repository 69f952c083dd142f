"""What the network computes between input and output, read off a trained model.

- :func:`layer_activations`: every layer's output for a batch, by forward hooks (MLP hidden
  layers, CNN blocks, RNN states and summary), in the order the data flows;
- :func:`unit_weights`: each first-layer unit's incoming weights as an image — the pattern
  that unit responds to (MLP, perceptron);
- :func:`conv_filters` and :func:`feature_maps` for convolutional networks;
- :func:`rnn_internals`: the recurrent cell unrolled step by step from its own weights, giving
  the hidden state, the LSTM cell state and every gate over time. The unrolled states are
  checked against ``nn.LSTM``/``nn.GRU``/``nn.RNN`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from threefigures.explain.attribution import ExplainError, is_token_model, prepare_inputs

#: Gate names in the order PyTorch stacks them in ``weight_ih``/``weight_hh``.
GATES = {
    "lstm": ("input gate", "forget gate", "candidate", "output gate"),
    "gru": ("reset gate", "update gate", "candidate"),
    "rnn": (),
}


def _hook_outputs(
    model: nn.Module, named: list[tuple[str, nn.Module]], run: object
) -> list[tuple[str, torch.Tensor]]:
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in named:

        def hook(_m: nn.Module, _inp: object, out: torch.Tensor, name: str = name) -> None:
            captured[name] = out.detach()

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            assert callable(run)
            run()
    finally:
        for handle in handles:
            handle.remove()
    return [(name, captured[name]) for name, _m in named if name in captured]


def layer_activations(
    model: nn.Module, inputs: torch.Tensor, *, lengths: torch.Tensor | None = None
) -> list[tuple[str, torch.Tensor]]:
    """(name, activations) per layer for a batch, input first and the logits last.

    MLP: "input" (B, 784), "hidden 1" (B, units) after the activation, …, "output" (B, K).
    CNN: "input" (B, C, H, W), then each block of ``describe()`` ("conv1" raw maps, "pool1"
    after pooling, norm and activation, "fc1", "output"). RNN: "input" steps (images only),
    "states" (B, T, D·H) of the last recurrent layer, "summary" (B, D·H) — the last state or
    the attention context — and "output". Perceptron: "input", "output".
    """
    from threefigures.models import Network

    if not isinstance(model, Network):
        raise ExplainError(f"no layer-by-layer view for {type(model).__name__}")
    model.eval()
    device = next(model.parameters()).device
    x = prepare_inputs(inputs, is_token_model(model), device)
    if lengths is not None:
        lengths = lengths.to(device=device, dtype=torch.int64)
    head: list[tuple[str, torch.Tensor]] = []
    if not is_token_model(model):
        head.append(("input", x.detach()))
    own = model.inside_activations(x, lengths)
    if own is not None:
        return head + own
    return head + _hook_outputs(model, model.activation_taps(), lambda: model(x))


def unit_weights(model: nn.Module) -> np.ndarray:
    """(units, H, W): each first-layer unit's incoming weights laid out as the input image
    (channels averaged) — what the unit looks for. MLP hidden units, or perceptron units."""
    from threefigures.models import Network

    if not isinstance(model, Network) or (layer := model.pixel_units()) is None:
        raise ExplainError(
            f"first-layer weights are drawn for mlp and perceptron, not {type(model).__name__}"
        )
    channels, height, width = model.config.input_shape
    w = layer.weight.detach().float().cpu()  # (units, C*H*W)
    return w.reshape(-1, channels, height, width).mean(dim=1).numpy()  # (units, H, W)


def conv_filters(model: nn.Module) -> list[tuple[str, np.ndarray]]:
    """(name, weights (out, in, k, k)) for each convolution of a CNN."""
    from threefigures.explain.attribution import conv_layers

    convs = conv_layers(model)
    if not convs:
        raise ExplainError("filters exist only in convolutional networks (--model cnn)")
    return [(name, conv.weight.detach().float().cpu().numpy()) for name, conv in convs.items()]


def feature_maps(model: nn.Module, image: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """(name, maps (C, H, W)) of each convolution of a CNN for one image (C, H, W) or
    (1, C, H, W): the convolution's raw output, before pooling and activation."""
    from threefigures.explain.attribution import conv_layers

    convs = conv_layers(model)
    if not convs:
        raise ExplainError("feature maps exist only in convolutional networks (--model cnn)")
    x = image if image.dim() == 4 else image.unsqueeze(0)
    acts = dict(layer_activations(model, x[:1]))
    return [(name, acts[name][0].float().cpu().numpy()) for name in convs]


@dataclass
class DirectionTrace:
    """One recurrent layer in one direction, unrolled over T real steps (in input order)."""

    hidden: np.ndarray  # (T, H)
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # name → (T, H)
    cell: np.ndarray | None = None  # (T, H), LSTM only


@dataclass
class RNNTrace:
    cell_type: str
    steps: int
    layers: list[list[DirectionTrace]]  # [layer][direction]


def rnn_internals(model: nn.Module, inputs: torch.Tensor, *, length: int | None = None) -> RNNTrace:
    """Unroll the recurrent layers for ONE example, from their weights, recording the hidden
    state, the LSTM cell state and each gate at every step.

    ``inputs``: one image (1, C, H, W) / (C, H, W), or token ids (1, T) / (T,). ``length``:
    the real length of a token sequence (padding after it is not read). Gate values lie in
    [0, 1] (sigmoids); the candidate lies in [−1, 1] (tanh).
    """
    from threefigures.models import Network

    if not isinstance(model, Network) or (rnn := model.recurrent_layer()) is None:
        raise ExplainError("gates and hidden states are drawn for recurrent networks (--model rnn)")
    model.eval()
    device = next(model.parameters()).device
    if is_token_model(model):
        x = inputs.reshape(1, -1)  # (1, T)
    else:
        x = inputs.reshape(1, *model.config.input_shape)  # (1, C, H, W)
    x = prepare_inputs(x, is_token_model(model), device)
    cell_type = CELL_TYPES[rnn.mode]
    with torch.no_grad():
        seq = model.input_steps(x)[0]  # (T, F)
        if length is not None:
            seq = seq[:length]
        layers: list[list[DirectionTrace]] = []
        layer_input = seq
        for layer in range(rnn.num_layers):
            traces = []
            for direction in range(2 if rnn.bidirectional else 1):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                traces.append(_unroll(rnn, cell_type, layer_input, suffix, reverse=direction == 1))
            layers.append(traces)
            layer_input = torch.cat(
                [torch.from_numpy(t.hidden).to(seq) for t in traces], dim=-1
            )  # (T, D*H): the next layer reads both directions
    return RNNTrace(cell_type=cell_type, steps=int(seq.shape[0]), layers=layers)


#: nn.RNNBase.mode → the cell's name in GATES.
CELL_TYPES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn"}


def _unroll(
    rnn: nn.RNNBase, cell_type: str, seq: torch.Tensor, suffix: str, *, reverse: bool
) -> DirectionTrace:
    w_ih = getattr(rnn, f"weight_ih{suffix}")
    w_hh = getattr(rnn, f"weight_hh{suffix}")
    b_ih = getattr(rnn, f"bias_ih{suffix}", None)
    b_hh = getattr(rnn, f"bias_hh{suffix}", None)
    steps, hidden_size = seq.shape[0], rnn.hidden_size
    h = seq.new_zeros(hidden_size)
    c = seq.new_zeros(hidden_size)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    hidden = seq.new_zeros(steps, hidden_size)
    cells = seq.new_zeros(steps, hidden_size)
    gate_names = GATES[cell_type]
    gates = {name: seq.new_zeros(steps, hidden_size) for name in gate_names}
    pre_in = seq @ w_ih.T + (b_ih if b_ih is not None else 0)  # (T, G*H)
    for t in order:
        rec = w_hh @ h + (b_hh if b_hh is not None else 0)  # (G*H,)
        if cell_type == "lstm":
            i, f, g, o = (pre_in[t] + rec).chunk(4)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            cells[t] = c
            for name, value in zip(gate_names, (i, f, g, o), strict=True):
                gates[name][t] = value
        elif cell_type == "gru":
            x_r, x_z, x_n = pre_in[t].chunk(3)
            h_r, h_z, h_n = rec.chunk(3)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            h = (1 - z) * n + z * h
            for name, value in zip(gate_names, (r, z, n), strict=True):
                gates[name][t] = value
        else:
            act = torch.relu if rnn.nonlinearity == "relu" else torch.tanh
            h = act(pre_in[t] + rec)
        hidden[t] = h
    return DirectionTrace(
        hidden=hidden.cpu().numpy(),
        gates={k: v.cpu().numpy() for k, v in gates.items()},
        cell=cells.cpu().numpy() if cell_type == "lstm" else None,
    )
