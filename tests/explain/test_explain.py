"""Looking inside: attribution (Captum), activations, filters, gates, embeddings, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.explain.analysis import example_losses, normalise_rows, top_losses
from threefigures.explain.attribution import (
    METHODS,
    ClassScores,
    ExplainError,
    attribute,
)
from threefigures.explain.embedding import layer_embeddings, project, separation
from threefigures.explain.internals import (
    conv_filters,
    feature_maps,
    layer_activations,
    rnn_internals,
    unit_weights,
)
from threefigures.models import create_model

IMAGE_MODELS = [
    ModelConfig(name="mlp"),
    ModelConfig(name="mlp", layers=(32, 16), activation="tanh"),
    ModelConfig(name="perceptron"),
    ModelConfig(name="cnn", channels=(4, 8), layers=(16,)),
    ModelConfig(name="rnn", cell="lstm", hidden_size=16),
    ModelConfig(name="rnn", cell="gru", hidden_size=16, attention=True),
    ModelConfig(name="mlp", num_classes=1),  # one sigmoid output (BCE)
]


def _id(c: ModelConfig) -> str:
    extra = "-att" if c.attention else ""
    return f"{c.name}-{c.cell if c.name == 'rnn' else len(c.layers)}-{c.num_classes}{extra}"


@pytest.fixture
def images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(3, 1, 28, 28, generator=gen)


def _model(config: ModelConfig) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(config).eval()
    if config.name == "perceptron":  # Rosenblatt's rule starts from zero weights
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.05)
    return model


def _tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 12, 13, 0]])  # (B, T), 0 = padding
    return ids, torch.tensor([4, 2, 3])


# --- attribution ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", IMAGE_MODELS, ids=_id)
def test_integrated_gradients_is_complete(config: ModelConfig, images: torch.Tensor) -> None:
    """Σ attributions = score(x) − score(black image), up to Captum's reported delta."""
    model = _model(config)
    attr = attribute(model, images, method="integrated-gradients", steps=64)
    scores = ClassScores(model)
    with torch.no_grad():
        t = torch.from_numpy(attr.targets)
        rows = torch.arange(len(t))
        change = (scores(images)[rows, t] - scores(torch.zeros_like(images))[rows, t]).numpy()
    assert attr.delta is not None
    sums = attr.maps.reshape(len(t), -1).sum(axis=1)
    np.testing.assert_allclose(sums - change, attr.delta, atol=1e-4)
    # and the delta itself is small against the change being explained
    assert np.all(np.abs(attr.delta) <= 0.05 * np.abs(change) + 1e-3)


@pytest.mark.parametrize("config", IMAGE_MODELS, ids=_id)
def test_saliency_has_the_input_shape_and_is_not_zero(
    config: ModelConfig, images: torch.Tensor
) -> None:
    attr = attribute(_model(config), images, method="saliency")
    assert attr.maps.shape == (3, 28, 28)
    assert np.isfinite(attr.maps).all()
    assert (attr.maps >= 0).all()  # |gradient|
    assert np.abs(attr.maps).sum(axis=(1, 2)).min() > 0
    assert attr.probabilities.shape[0] == 3
    np.testing.assert_allclose(attr.probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("config", IMAGE_MODELS, ids=_id)
def test_occlusion_blanking_every_patch_changes_something(
    config: ModelConfig, images: torch.Tensor
) -> None:
    attr = attribute(_model(config), images, method="occlusion")
    assert attr.maps.shape == (3, 28, 28)
    assert np.abs(attr.maps).max() > 0


def test_gradcam_shape_and_layers(images: torch.Tensor) -> None:
    model = _model(ModelConfig(name="cnn", channels=(4, 8), layers=(16,)))
    last = attribute(model, images, method="gradcam")
    first = attribute(model, images, method="gradcam", layer="conv1")
    assert last.maps.shape == first.maps.shape == (3, 28, 28)
    assert (last.maps >= 0).all()  # ReLU'd, as in the paper
    assert not np.allclose(last.maps, first.maps)
    with pytest.raises(ExplainError, match="conv1, conv2"):
        attribute(model, images, method="gradcam", layer="conv9")


@pytest.mark.parametrize("name", ["mlp", "perceptron", "rnn"])
def test_gradcam_on_a_model_without_convolutions_is_a_clear_error(
    name: str, images: torch.Tensor
) -> None:
    with pytest.raises(ExplainError, match="convolutional"):
        attribute(_model(ModelConfig(name=name)), images, method="gradcam")


def test_target_class_and_bad_method(images: torch.Tensor) -> None:
    model = _model(ModelConfig())
    attr = attribute(model, images, method="saliency", target=7)
    assert (attr.targets == 7).all()
    with pytest.raises(ExplainError, match="out of range"):
        attribute(model, images, target=10)
    with pytest.raises(ExplainError, match="unknown attribution method"):
        attribute(model, images, method="lime")
    with pytest.raises(ExplainError, match="NaN"):
        attribute(model, torch.full((1, 1, 28, 28), float("nan")))


def test_uint8_images_are_scaled_like_float_ones() -> None:
    model = _model(ModelConfig())
    raw = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8)
    a = attribute(model, raw, method="saliency")
    b = attribute(model, raw.float().div(255).unsqueeze(1), method="saliency")
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("cell", "bidirectional", "method"),
    list(itertools.product(("lstm", "gru"), (False, True), ("saliency", "integrated-gradients"))),
)
def test_rnn_attribution_in_eval_mode_leaves_the_model_unchanged(
    cell: str, bidirectional: bool, method: str, images: torch.Tensor
) -> None:
    """The captum #328/#564 case: gradients through an RNN without switching to training
    mode (dropout stays off), and the model's answers are the same afterwards."""
    config = ModelConfig(
        name="rnn", cell=cell, bidirectional=bidirectional, hidden_size=16, num_layers=2
    )
    model = _model(dataclass_replace(config, dropout=0.5))
    before = model(images).detach().clone()
    attr = attribute(model, images, method=method)
    assert not model.training
    assert not any(m.training for m in model.modules())
    assert torch.equal(model(images), before)
    assert np.abs(attr.maps).sum() > 0
    assert all(p.grad is None for p in model.parameters())  # only input gradients taken


def dataclass_replace(config: ModelConfig, **changes: object) -> ModelConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (cuDNN RNN backward)")
def test_rnn_attribution_on_cuda_in_eval_mode(images: torch.Tensor) -> None:
    model = _model(ModelConfig(name="rnn", cell="lstm", hidden_size=16)).cuda()
    attr = attribute(model, images.cuda(), method="integrated-gradients")
    assert not model.training
    assert attr.maps.shape == (3, 28, 28)


@pytest.mark.parametrize("method", ["saliency", "integrated-gradients", "occlusion"])
@pytest.mark.parametrize("sequence_output", [False, True])
def test_token_attribution_is_per_character_and_zero_on_padding(
    method: str, sequence_output: bool
) -> None:
    config = ModelConfig(
        name="rnn",
        cell="gru",
        vocab_size=30,
        embedding_dim=8,
        hidden_size=16,
        bidirectional=not sequence_output,
        num_classes=30 if sequence_output else 2,
        sequence_output=sequence_output,
    )
    model = _model(config)
    ids, lengths = _tokens()
    attr = attribute(model, ids, method=method, lengths=lengths)
    assert attr.maps.shape == ids.shape
    for i, n in enumerate(lengths.tolist()):
        assert (attr.maps[i, n:] == 0).all()
        assert np.abs(attr.maps[i, :n]).sum() > 0
    with pytest.raises(ExplainError, match="gradcam"):
        attribute(model, ids, method="gradcam", lengths=lengths)


def test_token_integrated_gradients_is_complete() -> None:
    model = _model(ModelConfig(name="rnn", cell="lstm", vocab_size=30, hidden_size=16))
    ids, lengths = _tokens()
    attr = attribute(model, ids, method="integrated-gradients", lengths=lengths, steps=64)
    scores = ClassScores(model)
    with torch.no_grad():
        t = torch.from_numpy(attr.targets)
        rows = torch.arange(len(t))
        change = (scores(ids, lengths) - scores(torch.zeros_like(ids), lengths))[rows, t]
    assert attr.delta is not None
    np.testing.assert_allclose(attr.maps.sum(axis=1) - change.numpy(), attr.delta, atol=1e-4)


@pytest.mark.parametrize("config", IMAGE_MODELS, ids=_id)
def test_outputs_already_computed_give_the_same_attribution(
    config: ModelConfig, images: torch.Tensor
) -> None:
    """The web page passes the logits its layer view already read: same targets,
    probabilities and maps as attribute's own forward pass (a one-output BCE model
    included, whose raw output becomes two class scores)."""
    model = _model(config)
    (name, logits), *_ = reversed(layer_activations(model, images))
    assert name == "output"
    for method in ("saliency", "integrated-gradients"):
        own = attribute(model, images, method=method)
        given = attribute(model, images, method=method, outputs=logits)
        np.testing.assert_array_equal(given.targets, own.targets)
        np.testing.assert_array_equal(given.probabilities, own.probabilities)
        np.testing.assert_array_equal(given.maps, own.maps)
    flipped = attribute(model, images, outputs=-logits)  # the outputs given are the ones used
    assert (flipped.targets != own.targets).all()


def test_sigmoid_output_is_explained_as_two_classes(images: torch.Tensor) -> None:
    model = _model(ModelConfig(num_classes=1))
    attr = attribute(model, images, method="saliency")
    with torch.no_grad():
        p_yes = torch.sigmoid(model(images))[:, 0].numpy()
    np.testing.assert_allclose(attr.probabilities[:, 1], p_yes, rtol=1e-5)
    assert set(attr.targets.tolist()) <= {0, 1}


def test_every_method_is_listed() -> None:
    assert METHODS == ("saliency", "integrated-gradients", "gradcam", "occlusion")


# --- intermediate layers ---------------------------------------------------------------------


def test_mlp_activations_and_unit_weights(images: torch.Tensor) -> None:
    model = _model(ModelConfig(layers=(32, 16)))
    acts = dict(layer_activations(model, images))
    assert list(acts) == ["input", "hidden 1", "hidden 2", "output"]
    assert acts["hidden 1"].shape == (3, 32)
    assert (acts["hidden 1"] >= 0).all()  # after the ReLU
    assert torch.allclose(acts["output"], model(images))
    weights = unit_weights(model)
    assert weights.shape == (32, 28, 28)
    np.testing.assert_array_equal(
        weights[5].reshape(-1), model.hidden[0].weight[5].detach().numpy()
    )


def test_cnn_filters_and_feature_maps_match_describe(images: torch.Tensor) -> None:
    model = _model(ModelConfig(name="cnn", channels=(4, 8), layers=(16,)))
    shapes = {b["name"]: tuple(b["out_shape"]) for b in model.describe()}
    maps = feature_maps(model, images[0])
    assert [name for name, _m in maps] == ["conv1", "conv2"]
    for name, m in maps:
        assert m.shape == shapes[name]
    assert maps[0][1].shape == (4, 28, 28)
    assert maps[1][1].shape == (8, 14, 14)
    filters = dict(conv_filters(model))
    assert filters["conv1"].shape == (4, 1, 3, 3)
    assert filters["conv2"].shape == (8, 4, 3, 3)
    acts = dict(layer_activations(model, images))
    for name, a in acts.items():
        if name in shapes and name != "input":
            assert tuple(a.shape[1:]) == shapes[name], name
    with pytest.raises(ExplainError, match="convolutional"):
        conv_filters(_model(ModelConfig()))


@pytest.mark.parametrize(
    ("cell", "bidirectional"), list(itertools.product(("lstm", "gru", "rnn"), (False, True)))
)
def test_unrolled_rnn_matches_torch_and_gates_are_in_range(
    cell: str, bidirectional: bool, images: torch.Tensor
) -> None:
    """The step-by-step unroll (from the weights) reproduces nn.LSTM/GRU/RNN exactly."""
    config = ModelConfig(
        name="rnn", cell=cell, bidirectional=bidirectional, hidden_size=8, num_layers=2
    )
    model = _model(config)
    trace = rnn_internals(model, images[0])
    with torch.no_grad():
        out, state = model.rnn(model.input_steps(images[:1]))  # (1, T, D*H)
    last = np.concatenate([d.hidden for d in trace.layers[-1]], axis=-1)
    np.testing.assert_allclose(last, out[0].numpy(), atol=1e-5)
    h_n = (state[0] if isinstance(state, tuple) else state)[:, 0].numpy()  # (L*D, H)
    finals = [
        d.hidden[0] if j == 1 else d.hidden[-1]
        for layer in trace.layers
        for j, d in enumerate(layer)
    ]
    np.testing.assert_allclose(np.stack(finals), h_n, atol=1e-5)
    assert trace.steps == 28
    for layer in trace.layers:
        for direction in layer:
            for name, values in direction.gates.items():
                assert values.shape == (28, 8)
                low = -1.0 if name == "candidate" else 0.0
                assert values.min() >= low and values.max() <= 1.0, name
    expected = {"lstm": 4, "gru": 3, "rnn": 0}[cell]
    assert len(trace.layers[0][0].gates) == expected


def test_unrolled_token_rnn_stops_at_the_length() -> None:
    model = _model(ModelConfig(name="rnn", cell="gru", vocab_size=30, hidden_size=8))
    ids, lengths = _tokens()
    trace = rnn_internals(model, ids[1], length=int(lengths[1]))
    assert trace.steps == 2
    with torch.no_grad():
        out, _ = model.rnn(model.input_steps(ids[1:2, :2]))
    np.testing.assert_allclose(trace.layers[0][0].hidden, out[0].numpy(), atol=1e-5)


def test_rnn_activations_with_packed_lengths() -> None:
    model = _model(ModelConfig(name="rnn", cell="lstm", vocab_size=30, hidden_size=8))
    ids, lengths = _tokens()
    acts = dict(layer_activations(model, ids, lengths=lengths))
    assert list(acts) == ["states", "summary", "output"]
    assert acts["states"].shape == (3, 4, 8)
    assert torch.allclose(acts["output"], model(ids, lengths))
    # the summary of a short sequence is its state at its own last step, not at the padding
    assert torch.allclose(acts["summary"][1], acts["states"][1, 1], atol=1e-6)


def test_layer_views_refuse_other_models() -> None:
    with pytest.raises(ExplainError):
        unit_weights(_model(ModelConfig(name="cnn")))
    with pytest.raises(ExplainError):
        rnn_internals(_model(ModelConfig()), torch.rand(1, 1, 28, 28))


# --- embeddings ---------------------------------------------------------------------------


def test_separation_is_higher_for_separated_classes() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], dtype=float)
    apart = centres[labels] + rng.normal(size=(90, 3))
    mixed = rng.normal(size=(90, 3))
    sep_apart, sep_mixed = separation(apart, labels), separation(mixed, labels)
    assert sep_apart is not None and sep_mixed is not None
    assert sep_apart > 0.7 > 0.1 > sep_mixed
    assert separation(apart, np.zeros(90, dtype=int)) is None


def test_pca_and_silhouette_match_scikit_learn() -> None:
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 7)) * np.arange(1, 8)
    labels = rng.integers(0, 4, 60)
    labels[:2] = [0, 1]
    ours = project(x, "pca")
    theirs = PCA(n_components=2).fit_transform(x)
    # the same axes up to sign
    for axis in range(2):
        assert np.allclose(ours[:, axis], theirs[:, axis], atol=1e-8) or np.allclose(
            ours[:, axis], -theirs[:, axis], atol=1e-8
        )
    apart = x + 5 * labels[:, None]
    for feats in (x, apart):
        assert separation(feats, labels) == pytest.approx(silhouette_score(feats, labels), abs=1e-9)
    singleton = labels.copy()
    singleton[5] = 9  # a class with one example
    assert separation(x, singleton) == pytest.approx(silhouette_score(x, singleton), abs=1e-9)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_layer_embeddings_cover_each_layer(method: str) -> None:
    model = _model(ModelConfig(layers=(16,)))
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(30, 1, 28, 28, generator=gen)
    labels = np.arange(30) % 3
    emb = layer_embeddings(model, x, labels, method=method)
    assert [e.name for e in emb] == ["input", "hidden 1", "output"]
    for e in emb:
        assert e.coords.shape == (30, 2)
        assert np.isfinite(e.coords).all()
        assert e.separation is not None and -1 <= e.separation <= 1
    with pytest.raises(ExplainError, match="projection"):
        project(np.zeros((5, 3)), "umap")
    with pytest.raises(ExplainError, match="at least 3"):
        project(np.zeros((2, 3)))


# --- error analysis ---------------------------------------------------------------------------


def test_top_losses_are_the_most_confident_mistakes() -> None:
    probs = np.array(
        [
            [0.9, 0.1],  # right
            [0.2, 0.8],  # wrong, p(true) 0.2
            [0.01, 0.99],  # wrong, p(true) 0.01: the worst
            [0.45, 0.55],  # wrong, p(true) 0.45
            [0.3, 0.7],  # right
        ]
    )
    labels = np.array([0, 0, 0, 0, 1])
    assert top_losses(probs, labels, k=10).tolist() == [2, 1, 3]
    assert top_losses(probs, labels, k=2).tolist() == [2, 1]
    assert top_losses(probs[[0, 4]], labels[[0, 4]]).tolist() == []
    np.testing.assert_allclose(example_losses(probs, labels)[2], -np.log(0.01))


def test_normalised_confusion_rows_sum_to_one() -> None:
    matrix = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    rows = normalise_rows(matrix)
    np.testing.assert_allclose(rows.sum(axis=1), [1, 1, 0])
    assert rows[0, 1] == pytest.approx(0.2)
