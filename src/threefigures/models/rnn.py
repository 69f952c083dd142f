"""A recurrent network (LSTM, GRU or plain RNN) over image rows or token sequences.

The same cell reads every step, carrying a state from one step to the next: that weight
sharing across time is what lets it read a sequence of any length with a fixed number of
parameters. Two inputs:

- images (``vocab_size == 0``): a 28×28 digit is read top to bottom as 28 steps of 28 pixels;
- tokens (``vocab_size > 0``): ids (B, T), 0 = padding, through an embedding — names, one
  character per step, classified (the state after the last character, or with ``attention``
  a learned weighted mean of every step's state) or, with
  ``sequence_output``, a next-character prediction at every step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from threefigures.config import ModelConfig
from threefigures.models.base import Network
from threefigures.models.layers import Normalize
from threefigures.models.registry import register_model

CELL_MODULES: dict[str, type[nn.LSTM | nn.GRU | nn.RNN]] = {
    "lstm": nn.LSTM,
    "gru": nn.GRU,
    "rnn": nn.RNN,
}


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau-style) attention pooling: one weight per step, softmax over the
    real steps of each sequence, and the weighted mean of the states as the summary.

    score_t = v · tanh(W h_t + b);  α = softmax(score) over steps t < length;  c = Σ α_t h_t.
    The weights α are where the network looked: they are what the attention figure draws.
    """

    def __init__(self, width: int, attention_size: int) -> None:
        super().__init__()
        self.project = nn.Linear(width, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def weights(self, states: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """states (B, T, D*H), lengths (B,) or None → α (B, T), zero on padding, rows sum to 1."""
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        if lengths is not None:
            steps = torch.arange(states.shape[1], device=states.device)
            padding = steps[None, :] >= lengths.to(states.device)[:, None]  # (B, T)
            scores = scores.masked_fill(padding, float("-inf"))
        return torch.softmax(scores, dim=1)

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = self.weights(states, lengths)  # (B, T)
        context = torch.bmm(alpha.unsqueeze(1), states).squeeze(1)  # (B, D*H)
        return context, alpha


class RNN(Network):
    """``RNN(ModelConfig(name="rnn"))`` is a 1-layer LSTM, 128 units, reading 28 image rows.

    ``forward(x, lengths=None)``:

    - images: x (B, C, H, W) pixels in [0, 1], normalised, read as H steps of C*W values;
    - tokens: x (B, T) int64 ids, 0 = padding.

    ``lengths`` (B,) — the real length of each sequence — packs the batch so the cell never
    steps over padding: the result is exactly what each sequence would give alone. Without
    it every one of the T steps is read, padding included.

    Output: (B, classes) logits from the final state of the last layer (for a bidirectional
    cell, the forward direction's state after the last real step concatenated with the
    backward direction's state after the first step); with ``sequence_output``, (B, T, classes)
    logits at every step (padded steps hold the bias only: mask them out of the loss).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.directions = 2 if config.bidirectional else 1
        self.embedding: nn.Embedding | None = None
        self.normalize: Normalize | None = None
        if config.vocab_size > 0:
            self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
            input_size = config.embedding_dim
        else:
            self.normalize = Normalize(config.input_mean, config.input_std)
            channels, _height, width = config.input_shape
            input_size = channels * width
        self.input_size = input_size
        self.rnn = CELL_MODULES[config.cell](
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies this between stacked layers only; with one layer it would warn.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        width = config.hidden_size * self.directions
        self.attention: AdditiveAttention | None = (
            AdditiveAttention(width, config.hidden_size) if config.attention else None
        )
        self.out = nn.Linear(width, config.num_classes)

    def input_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Turn the input into a (B, T, features) sequence."""
        if self.embedding is not None:
            return self.embedding(x.long())  # (B, T, E)
        assert self.normalize is not None
        x = x.reshape(x.shape[0], *self.config.input_shape)  # (B, C, H, W)
        x = self.normalize(x).permute(0, 2, 1, 3)  # (B, H, C, W): one row per step
        return x.reshape(x.shape[0], x.shape[1], self.input_size)  # (B, T=H, C*W)

    def _run(
        self, x: torch.Tensor, lengths: torch.Tensor | None, keep_steps: bool = False
    ) -> tuple[torch.Tensor | None, Any, torch.Tensor | None]:
        """Run the cell: (per-step outputs (B, T, D*H) — None when neither needed nor asked
        for with ``keep_steps`` — the final state, and the lengths on the CPU or None)."""
        seq = self.input_steps(x)  # (B, T, F)
        steps = seq.shape[1]
        need_steps = keep_steps or self.config.sequence_output or self.attention is not None
        out: torch.Tensor | None = None
        if lengths is not None:
            # pack_padded_sequence wants the lengths on the CPU as int64, whatever the device.
            lengths = lengths.to(device="cpu", dtype=torch.int64)
            packed = pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
            packed_out, state = self.rnn(packed)
            if need_steps:
                out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=steps)
        else:
            out, state = self.rnn(seq)  # (B, T, D*H)
        return out, state, lengths

    def attention_weights(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Where the network looked: α (B, T), non-negative, zero on padding, rows sum to 1."""
        if self.attention is None:
            raise ValueError("this RNN was built without attention (ModelConfig.attention)")
        out, _state, lengths = self._run(x, lengths)
        assert out is not None
        return self.attention.weights(out, lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        batch = x.shape[0]
        out, state, lengths = self._run(x, lengths)
        if self.config.sequence_output:
            assert out is not None
            return self.out(self.dropout(out))  # (B, T, classes)
        if self.attention is not None:
            assert out is not None
            context, _alpha = self.attention(out, lengths)  # (B, D*H)
            return self.out(self.dropout(context))  # (B, classes)
        # h_n: (layers*D, B, H), in the batch's own order even when packing sorted it.
        h_n = state[0] if isinstance(state, tuple) else state
        last = h_n.view(self.config.num_layers, self.directions, batch, -1)[-1]  # (D, B, H)
        last = last.transpose(0, 1).reshape(batch, -1)  # (B, D*H): forward ‖ backward
        return self.out(self.dropout(last))  # (B, classes)

    def describe(self) -> list[dict[str, Any]]:
        """The network block by block, for Figure 1 (same keys as ``CNN.describe``).

        ``out_shape`` leaves out the batch: (steps, features) for sequences, (units,) for
        vectors; ``None`` stands for the steps of variable-length token input. One entry per
        recurrent layer ("lstm1", "lstm2", …), each counting both directions. The params add
        up to the model's parameter count.
        """
        cfg = self.config
        steps: int | None = None if self.embedding is not None else cfg.input_shape[1]
        width = cfg.hidden_size * self.directions
        entries: list[dict[str, Any]] = []
        if self.embedding is not None:
            entries.append({"name": "input", "kind": "tokens", "out_shape": (steps,), "params": 0})
            entries.append(
                {
                    "name": "embedding",
                    "kind": "embedding",
                    "out_shape": (steps, cfg.embedding_dim),
                    "params": self.embedding.weight.numel(),
                }
            )
        else:
            shape = (steps, self.input_size)
            entries.append({"name": "input", "kind": "image rows", "out_shape": shape, "params": 0})
        for layer in range(cfg.num_layers):
            params = sum(
                p.numel()
                for name, p in self.rnn.named_parameters()
                if name.removesuffix("_reverse").endswith(f"_l{layer}")
            )
            entries.append(
                {
                    "name": f"{cfg.cell}{layer + 1}",
                    "kind": cfg.cell,
                    "out_shape": (steps, width),
                    "params": params,
                }
            )
        out_params = sum(p.numel() for p in self.out.parameters())
        if cfg.sequence_output:
            out_shape: tuple[int | None, ...] = (steps, cfg.num_classes)
        elif self.attention is not None:
            entries.append(
                {
                    "name": "attention",
                    "kind": "attention",
                    "out_shape": (width,),
                    "params": sum(p.numel() for p in self.attention.parameters()),
                    "detail": "additive, softmax over steps",
                }
            )
            out_shape = (cfg.num_classes,)
        else:
            entries.append(
                {"name": "state", "kind": "last state", "out_shape": (width,), "params": 0}
            )
            out_shape = (cfg.num_classes,)
        entries.append(
            {"name": "output", "kind": "linear", "out_shape": out_shape, "params": out_params}
        )
        return entries

    def recurrent_layer(self) -> nn.RNNBase | None:
        return self.rnn

    def token_embedding(self) -> nn.Module | None:
        return self.embedding

    @property
    def reads_tokens(self) -> bool:
        return self.embedding is not None

    @property
    def attends(self) -> bool:
        return self.attention is not None

    @torch.no_grad()
    def inside_activations(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> list[tuple[str, torch.Tensor]] | None:
        """ "states" (B, T, D·H) of the last recurrent layer, "summary" (B, D·H) — the last
        state or the attention context; none for per-step output — and "output"."""
        out, state, lens = self._run(x, lengths, keep_steps=True)  # (B, T, D*H)
        assert out is not None
        summary: torch.Tensor | None
        if self.config.sequence_output:
            summary = None
        elif self.attention is not None:
            summary, _alpha = self.attention(out, lens)
        else:
            h_n = state[0] if isinstance(state, tuple) else state
            last = h_n.view(self.config.num_layers, self.directions, x.shape[0], -1)[-1]
            summary = last.transpose(0, 1).reshape(x.shape[0], -1)  # (B, D*H)
        acts = [("states", out)]
        if summary is not None:
            acts.append(("summary", summary))
        return [*acts, ("output", self(x, lengths))]


@register_model("rnn", "recurrent network: LSTM/GRU/RNN over image rows or character sequences")
def rnn(config: ModelConfig) -> nn.Module:
    return RNN(config)
