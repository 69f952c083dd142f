"""The CNN, the RNN and the perceptron: shapes, parameter counts, packing, learning rules."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.models import CNN, RNN, Perceptron, create_model
from threefigures.models.perceptron import HISTORY


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- every new model through the registry ------------------------------------------------

CONFIGS = [
    ModelConfig(name="cnn"),
    *(
        ModelConfig(name="rnn", cell=cell, bidirectional=bidir)
        for cell, bidir in itertools.product(("lstm", "gru", "rnn"), (False, True))
    ),
    ModelConfig(name="rnn", cell="gru", attention=True),
    ModelConfig(name="rnn", cell="lstm", bidirectional=True, attention=True),
]


@pytest.mark.parametrize(
    "config",
    CONFIGS,
    ids=lambda c: (
        c.name
        if c.name != "rnn"
        else f"rnn-{c.cell}-{'bi' if c.bidirectional else 'uni'}{'-att' if c.attention else ''}"
    ),
)
def test_forward_and_backward(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = create_model(config)
    out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_perceptron_forward_has_no_gradients() -> None:
    model = create_model("perceptron")
    assert isinstance(model, Perceptron)
    assert model.learning_rule == "perceptron"
    out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.isfinite(out).all()
    assert not out.requires_grad
    assert all(not p.requires_grad for p in model.parameters())
    assert "1958" in HISTORY and "XOR" in HISTORY and "1986" in HISTORY


# --- documented parameter counts ---------------------------------------------------------


def test_cnn_parameter_count() -> None:
    model = create_model(
        ModelConfig(name="cnn", channels=(16, 32), kernel_size=3, layers=(128,), batch_norm=True)
    )
    # conv1: 1*16*3*3 weights, no bias (batch norm follows) + BN 2*16   =     176
    # conv2: 16*32*3*3, no bias + BN 2*32                                =   4,672
    # two 2×2 pools: 28 → 14 → 7, so fc1 sees 32*7*7 = 1,568 inputs
    # fc1: 1568*128 + 128                                                = 200,832
    # output: 128*10 + 10                                                =   1,290
    expected = (1 * 16 * 9 + 2 * 16) + (16 * 32 * 9 + 2 * 32) + (1568 * 128 + 128) + (128 * 10 + 10)
    assert expected == 206_970
    assert n_params(model) == expected


@pytest.mark.parametrize(
    ("cell", "gates"),
    [("lstm", 4), ("gru", 3), ("rnn", 1)],
)
def test_rnn_parameter_count(cell: str, gates: int) -> None:
    model = create_model(ModelConfig(name="rnn", cell=cell))
    # per gate: input weights 128×28 (a row of 28 pixels), recurrent weights 128×128 and
    # PyTorch's two bias vectors (bias_ih and bias_hh, 128 each); then the 128 → 10 output.
    expected = gates * (128 * 28 + 128 * 128 + 2 * 128) + 128 * 10 + 10
    assert n_params(model) == expected
    if cell == "lstm":
        assert expected == 82_186


def test_bidirectional_rnn_parameter_count() -> None:
    model = create_model(ModelConfig(name="rnn", cell="gru", bidirectional=True))
    # two directions of the same GRU; the output reads both final states (256 → 10)
    assert n_params(model) == 2 * 3 * (128 * 28 + 128 * 128 + 2 * 128) + 256 * 10 + 10


def test_perceptron_parameter_count() -> None:
    assert n_params(create_model("perceptron")) == 784 * 10 + 10


# --- CNN ---------------------------------------------------------------------------------


def test_cnn_describe_chains_shapes_and_counts_every_parameter() -> None:
    model = create_model("cnn")
    assert isinstance(model, CNN)
    blocks = model.describe()
    assert [b["name"] for b in blocks] == [
        "input",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "fc1",
        "output",
    ]
    assert [b["kind"] for b in blocks] == [
        "input",
        "conv",
        "maxpool",
        "conv",
        "maxpool",
        "linear",
        "linear",
    ]
    shapes = [b["out_shape"] for b in blocks]
    assert shapes == [
        (1, 28, 28),
        (16, 28, 28),
        (16, 14, 14),
        (32, 14, 14),
        (32, 7, 7),
        (128,),  # the head's registered default (default_config("cnn"))
        (10,),
    ]
    assert model.feature_shape == (32, 7, 7)
    assert sum(b["params"] for b in blocks) == n_params(model)
    # pooling comes before the norm, so the pool block carries the batch norm's γ and β
    assert blocks[0]["params"] == 0 and blocks[2]["params"] == 2 * 16


def test_cnn_describe_matches_real_activations() -> None:
    """Each block's out_shape is what the tensor really looks like after it."""
    model = create_model(ModelConfig(name="cnn", channels=(4, 6, 8), layers=(12,)))
    assert isinstance(model, CNN)
    x = model.normalize(torch.rand(2, 1, 28, 28))
    seen = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            seen.append(tuple(x.shape[1:]))
    pooled = [b["out_shape"] for b in model.describe() if b["kind"] == "maxpool"]
    assert seen == pooled == [(4, 14, 14), (6, 7, 7), (8, 3, 3)]


def test_cnn_last_conv_is_the_final_convolution_and_not_duplicated() -> None:
    model = create_model("cnn")
    assert isinstance(model, CNN)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert model.last_conv is convs[-1]
    assert model.last_conv.out_channels == 32
    assert not any(key.startswith("last_conv") for key in model.state_dict())


def test_batch_norm_cnn_is_deterministic_in_eval() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="cnn", batch_norm=True))
    x = torch.rand(4, 1, 28, 28)
    model.train()
    model(x)  # moves the running statistics away from their initial values
    model.eval()
    assert torch.equal(model(x), model(x))
    assert torch.allclose(model(x[:1]), model(x)[:1], atol=1e-6)  # no dependence on the batch


def test_cnn_single_block() -> None:
    model = create_model(ModelConfig(name="cnn", channels=(8,), layers=(32,)))
    assert isinstance(model, CNN)
    assert model.feature_shape == (8, 14, 14)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert n_params(model) == (8 * 9 + 2 * 8) + (8 * 14 * 14 * 32 + 32) + (32 * 10 + 10)


def test_cnn_kernel_5() -> None:
    model = create_model(ModelConfig(name="cnn", kernel_size=5, batch_norm=False, layers=()))
    assert isinstance(model, CNN)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert model.last_conv.kernel_size == (5, 5)
    # without batch norm the convolutions keep their biases; no hidden fc layer
    assert n_params(model) == (16 * 25 + 16) + (16 * 32 * 25 + 32) + (32 * 7 * 7 * 10 + 10)


def test_cnn_average_pooling() -> None:
    model = create_model(ModelConfig(name="cnn", pooling="avg"))
    assert isinstance(model, CNN)
    assert any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert [b["kind"] for b in model.describe()].count("avgpool") == 2
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_skips_pooling_once_the_map_is_one_pixel() -> None:
    model = create_model(ModelConfig(name="cnn", input_shape=(1, 4, 4), channels=(4, 4, 4, 4)))
    assert isinstance(model, CNN)
    assert model.feature_shape == (4, 1, 1)
    assert [b["name"] for b in model.describe()][:7] == [
        "input",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
        "conv4",
    ]
    assert model(torch.rand(2, 1, 4, 4)).shape == (2, 10)


@pytest.mark.parametrize("name", ["cnn", "rnn"])
def test_dropout_on_in_train_off_in_eval(name: str) -> None:
    config = ModelConfig(name=name, layers=(64,), dropout=0.5, num_layers=2, hidden_size=32)
    model = create_model(config)
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    b = model(x)
    assert not torch.equal(a, b)


# --- RNN ---------------------------------------------------------------------------------

LENGTHS = [5, 3, 7, 1]


def _padded_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.int64)  # (B, T), 0 = padding
    for i, length in enumerate(LENGTHS):
        tokens[i, :length] = torch.randint(1, 30, (length,), generator=gen)
    return tokens, torch.tensor(LENGTHS)


@pytest.mark.parametrize(
    ("cell", "bidirectional", "sequence_output", "attention"),
    [
        *itertools.product(("lstm", "gru", "rnn"), (False, True), (False, True), (False,)),
        ("gru", False, False, True),
        ("lstm", True, False, True),
    ],
)
def test_packed_batch_equals_each_sequence_alone(
    cell: str, bidirectional: bool, sequence_output: bool, attention: bool
) -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        name="rnn",
        cell=cell,
        bidirectional=bidirectional,
        sequence_output=sequence_output,
        attention=attention,
        vocab_size=30,
        embedding_dim=8,
        hidden_size=16,
        num_layers=2,
        num_classes=30 if sequence_output else 10,
    )
    model = create_model(config).eval()
    tokens, lengths = _padded_batch()
    batch_out = model(tokens, lengths)
    classes = config.num_classes
    if sequence_output:
        assert batch_out.shape == (4, 7, classes)
    else:
        assert batch_out.shape == (4, classes)
    for i, length in enumerate(LENGTHS):
        alone = model(tokens[i : i + 1, :length])  # (1, L) — no padding, no lengths
        if sequence_output:
            assert torch.allclose(batch_out[i, :length], alone[0], atol=1e-6)
        else:
            assert torch.allclose(batch_out[i], alone[0], atol=1e-6)
    if not sequence_output:
        # without lengths the padding is read too, and the short sequences' answers change
        unpacked = model(tokens)
        assert not torch.allclose(unpacked[3], batch_out[3], atol=1e-4)


def test_lengths_may_be_any_integer_dtype() -> None:
    model = create_model(ModelConfig(name="rnn", vocab_size=30, hidden_size=8)).eval()
    tokens, lengths = _padded_batch()
    assert torch.equal(model(tokens, lengths), model(tokens, lengths.to(torch.int32)))


def test_image_rows_share_the_same_weights() -> None:
    short = create_model(ModelConfig(name="rnn", input_shape=(1, 28, 28)))
    tall = create_model(ModelConfig(name="rnn", input_shape=(1, 40, 28)))
    # 28 or 40 rows: the same parameters, none of them per step
    assert short.state_dict().keys() == tall.state_dict().keys()
    assert {k: v.shape for k, v in short.state_dict().items()} == {
        k: v.shape for k, v in tall.state_dict().items()
    }
    tall.load_state_dict(short.state_dict())
    assert tall(torch.rand(2, 1, 40, 28)).shape == (2, 10)


def test_image_row_order_matters() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="rnn")).eval()
    x = torch.rand(3, 1, 28, 28)
    permuted = x[:, :, torch.randperm(28)]
    assert not torch.allclose(model(x), model(permuted), atol=1e-4)


def test_rnn_describe_counts_every_parameter() -> None:
    model = create_model(
        ModelConfig(name="rnn", cell="gru", num_layers=2, bidirectional=True, hidden_size=16)
    )
    assert isinstance(model, RNN)
    blocks = model.describe()
    assert [b["name"] for b in blocks] == ["input", "gru1", "gru2", "state", "output"]
    assert blocks[0]["out_shape"] == (28, 28)
    assert blocks[1]["out_shape"] == (28, 32)
    assert blocks[-1]["out_shape"] == (10,)
    assert sum(b["params"] for b in blocks) == n_params(model)
    # layer 1 reads 28 pixels, layer 2 the 32 outputs of both directions
    assert blocks[1]["params"] == 2 * 3 * (16 * 28 + 16 * 16 + 2 * 16)
    assert blocks[2]["params"] == 2 * 3 * (16 * 32 + 16 * 16 + 2 * 16)


def test_rnn_describe_for_tokens() -> None:
    config = ModelConfig(name="rnn", vocab_size=30, num_classes=30, sequence_output=True)
    model = create_model(config)
    assert isinstance(model, RNN)
    blocks = model.describe()
    assert [b["name"] for b in blocks] == ["input", "embedding", "lstm1", "output"]
    assert blocks[1]["params"] == 30 * 32
    assert blocks[-1]["out_shape"] == (None, 30)
    assert sum(b["params"] for b in blocks) == n_params(model)


def test_embedding_padding_row_is_zero() -> None:
    model = create_model(ModelConfig(name="rnn", vocab_size=30))
    assert isinstance(model, RNN) and model.embedding is not None
    assert torch.equal(model.embedding.weight[0], torch.zeros(32))


# --- perceptron --------------------------------------------------------------------------


def _two_features() -> Perceptron:
    config = ModelConfig(
        name="perceptron", input_shape=(1, 1, 2), num_classes=2, input_mean=0.0, input_std=1.0
    )
    model = create_model(config)
    assert isinstance(model, Perceptron)
    return model


def test_perceptron_update_matches_hand_computation() -> None:
    model = _two_features()
    with torch.no_grad():
        model.out.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5]]))
        model.out.bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.0], [3.0, -1.0]])
    y = torch.tensor([0, 1, 0])
    # scores: unit 0 = x0 - x1 → -1, -1, 4;   unit 1 = (x0 + x1)/2 - 1 → 0.5, -1.5, 0
    # outputs o (score ≥ 0 → +1):   unit 0: -1, -1, +1;   unit 1: +1, -1, +1
    # targets t:                    unit 0: +1, -1, +1;   unit 1: -1, +1, -1
    # (t - o)/2:                    unit 0:  1,  0,  0;   unit 1: -1,  1, -1
    # ΔW0 = 0.5/3 · (1·[1, 2])                       = [1/6, 1/3],  Δb0 = 0.5/3 · 1  = 1/6
    # ΔW1 = 0.5/3 · (-[1, 2] + [-1, 0] - [3, -1])    = [-5/6, -1/6], Δb1 = 0.5/3 · -1 = -1/6
    # wrong decisions: 4 of 6
    wrong = model.perceptron_update(x.reshape(3, 1, 1, 2), y, lr=0.5)
    assert wrong == pytest.approx(4 / 6)
    expected_w = torch.tensor([[1 + 1 / 6, -1 + 1 / 3], [0.5 - 5 / 6, 0.5 - 1 / 6]])
    assert torch.allclose(model.out.weight, expected_w, atol=1e-6)
    assert torch.allclose(model.out.bias, torch.tensor([1 / 6, -1 - 1 / 6]), atol=1e-6)


def test_perceptron_normalises_before_the_update() -> None:
    config = ModelConfig(name="perceptron", input_mean=0.5, input_std=0.25)
    model = create_model(config)
    assert isinstance(model, Perceptron)
    x = torch.full((1, 1, 28, 28), 0.75)
    model.perceptron_update(x, torch.tensor([3]), lr=1.0)
    # all scores were 0 → every unit fired; only unit 3 was right. z = (0.75-0.5)/0.25 = 1
    assert torch.allclose(model.out.weight[3], torch.zeros(784))
    assert torch.allclose(model.out.weight[0], torch.full((784,), -1.0))


def test_perceptron_learns_a_linearly_separable_problem() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(80) % 2
    centres = torch.tensor([[-2.0, -1.0], [2.0, 1.0]])
    x = centres[y] + 0.6 * torch.randn(80, 2, generator=gen)  # (N, 2): two separable blobs
    x = x.reshape(80, 1, 1, 2)
    model = _two_features()
    accuracy = 0.0
    for _epoch in range(5):
        for start in range(0, 80, 8):
            model.perceptron_update(x[start : start + 8], y[start : start + 8], lr=1.0)
        accuracy = (model(x).argmax(1) == y).float().mean().item()
        if accuracy == 1.0:
            break
    assert accuracy == 1.0


def test_perceptron_cannot_learn_xor() -> None:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]).reshape(4, 1, 1, 2)
    y = torch.tensor([0, 1, 1, 0])
    model = _two_features()
    best = 0.0
    for _epoch in range(100):
        model.perceptron_update(x, y, lr=1.0)
        best = max(best, (model(x).argmax(1) == y).float().mean().item())
    assert best <= 0.75


# --- attention ---------------------------------------------------------------------------


def test_attention_weights_are_a_distribution_that_masks_padding() -> None:
    torch.manual_seed(0)
    config = ModelConfig(name="rnn", cell="gru", vocab_size=30, hidden_size=8, attention=True)
    model = create_model(config).eval()
    tokens, lengths = _padded_batch()
    alpha = model.attention_weights(tokens, lengths)  # (B, T)
    assert alpha.shape == tokens.shape
    assert (alpha >= 0).all()
    assert torch.allclose(alpha.sum(dim=1), torch.ones(len(LENGTHS)), atol=1e-6)
    for i, length in enumerate(LENGTHS):
        assert (alpha[i, length:] == 0).all()  # padding gets no weight
        assert (alpha[i, :length] > 0).all()


def test_attention_on_image_rows_covers_every_row() -> None:
    model = create_model(ModelConfig(name="rnn", hidden_size=16, attention=True)).eval()
    alpha = model.attention_weights(torch.rand(3, 1, 28, 28))
    assert alpha.shape == (3, 28)
    assert torch.allclose(alpha.sum(dim=1), torch.ones(3), atol=1e-6)


def test_attention_pooling_is_the_weighted_mean_of_states() -> None:
    """The logits equal the output layer applied to Σ α_t h_t computed by hand."""
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="rnn", cell="lstm", hidden_size=8, attention=True))
    model.eval()
    x = torch.rand(2, 1, 28, 28)
    states, _ = model.rnn(model.input_steps(x))  # (B, T, H)
    alpha = model.attention_weights(x)  # (B, T)
    context = (alpha.unsqueeze(-1) * states).sum(dim=1)  # (B, H)
    assert torch.allclose(model(x), model.out(context), atol=1e-6)


def test_attention_config_errors() -> None:
    from threefigures.errors import ConfigError

    with pytest.raises(ConfigError, match="rnn model"):
        ModelConfig(name="mlp", attention=True).validate()
    with pytest.raises(ConfigError, match="next-character"):
        ModelConfig(name="rnn", attention=True, sequence_output=True).validate()
    with pytest.raises(ValueError, match="without attention"):
        create_model(ModelConfig(name="rnn")).attention_weights(torch.rand(1, 1, 28, 28))


def test_describe_counts_attention_parameters() -> None:
    model = create_model(ModelConfig(name="rnn", cell="gru", hidden_size=16, attention=True))
    blocks = model.describe()
    assert "attention" in [b["name"] for b in blocks]
    assert sum(b["params"] for b in blocks) == n_params(model)
