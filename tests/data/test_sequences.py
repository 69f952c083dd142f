"""Tests for the names datasets (threefigures.data.sequences) and name sampling (generate)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import importlib.util

import pytest
import torch
from torch import nn

from threefigures.data.sequences import (
    END,
    IGNORE_INDEX,
    PAD,
    SEQUENCE_DATASETS,
    START,
    VOCAB,
    SequenceDataset,
    decode,
    encode,
    load_sequences,
    majority_baseline,
)
from threefigures.errors import DataError
from threefigures.models.generate import sample_names

HAS_NAMES = importlib.util.find_spec("names") is not None
needs_names = pytest.mark.skipif(not HAS_NAMES, reason="the PyPI package `names` is not installed")

# sha256 of "\n".join(texts_test)[:16]: the split must be the same on every machine.
GENDER_TEST_CHECKSUM = "f40623bf2ad22a94"
NEXT_TEST_CHECKSUM = "4c2433421fa703cd"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: on a busy machine extra intra-op threads only add waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gender() -> SequenceDataset:
    return load_sequences("names-gender")


@pytest.fixture(scope="module")
def nextchar() -> SequenceDataset:
    return load_sequences("names-next")


def census(file_name: str) -> dict[str, float]:
    """An independent reading of one census list: NAME → frequency %."""
    folder = importlib.resources.files("names")
    rows = [line.split() for line in (folder / file_name).read_text().splitlines() if line.strip()]
    return {row[0]: float(row[1]) for row in rows}


def checksum(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def same(a: SequenceDataset, b: SequenceDataset) -> bool:
    tensors = ("train_x", "train_len", "train_y", "test_x", "test_len", "test_y")
    return all(torch.equal(getattr(a, t), getattr(b, t)) for t in tensors) and (
        a.texts_train,
        a.texts_test,
        a.vocab,
        a.classes,
        a.source,
    ) == (b.texts_train, b.texts_test, b.vocab, b.classes, b.source)


# --------------------------------------------------------------------------- names-gender


@needs_names
def test_gender_sizes_add_up_to_the_labelled_names(gender: SequenceDataset) -> None:
    female, male = census("dist.female.first"), census("dist.male.first")
    both = set(female) & set(male)
    ties = {n for n in both if female[n] == male[n]}
    labelled = (set(female) | set(male)) - ties
    n_train, n_test = len(gender.texts_train), len(gender.texts_test)
    assert n_train + n_test == len(labelled)
    assert {t.upper() for t in gender.texts_train + gender.texts_test} == labelled
    assert (
        gender.train_x.shape[0] == gender.train_len.shape[0] == gender.train_y.shape[0] == n_train
    )
    assert gender.test_x.shape[0] == gender.test_len.shape[0] == gender.test_y.shape[0] == n_test
    assert n_test == round(0.2 * len(labelled))
    assert gender.task == "classify" and gender.classes == ["female", "male"]
    assert gender.num_classes == 2
    assert gender.summary()["train"] == n_train and gender.summary()["test"] == n_test


@needs_names
def test_gender_labels_follow_the_higher_frequency(gender: SequenceDataset) -> None:
    female, male = census("dist.female.first"), census("dist.male.first")
    texts = gender.texts_train + gender.texts_test
    labels = torch.cat([gender.train_y, gender.test_y]).tolist()
    for text, label in zip(texts, labels, strict=True):
        f, m = female.get(text.upper(), -1.0), male.get(text.upper(), -1.0)
        assert label == (0 if f > m else 1), text
    # stratified: the female share is the same in train and test, to within one name
    share = [float((y == 0).double().mean()) for y in (gender.train_y, gender.test_y)]
    assert abs(share[0] - share[1]) < 1 / len(gender.test_y)


@needs_names
def test_gender_no_name_in_both_splits(gender: SequenceDataset) -> None:
    assert not set(gender.texts_train) & set(gender.texts_test)
    assert len(set(gender.texts_train)) == len(gender.texts_train)


@needs_names
def test_gender_source_reports_the_ambiguous_names(gender: SequenceDataset) -> None:
    female, male = census("dist.female.first"), census("dist.male.first")
    both = set(female) & set(male)
    ties = sorted(n for n in both if female[n] == male[n])
    assert f"{len(both)} names in both lists" in gender.source
    assert f"{len(ties)} ties dropped" in gender.source
    assert all(t in gender.source for t in ties)


@needs_names
def test_gender_tensors_match_the_texts(gender: SequenceDataset) -> None:
    assert gender.vocab == list(VOCAB)
    for x, lengths, texts in (
        (gender.train_x, gender.train_len, gender.texts_train),
        (gender.test_x, gender.test_len, gender.texts_test),
    ):
        assert x.dtype == lengths.dtype == torch.int64
        assert int(lengths.min()) >= 1
        assert x.shape[1] == max(len(t) for t in texts) == int(lengths.max())
        for row, n, text in zip(x[:50], lengths[:50], texts[:50], strict=True):
            assert decode(row, gender.vocab) == text and int(n) == len(text)
            assert bool((row[int(n) :] == 0).all()) and bool((row[: int(n)] > 2).all())


@needs_names
def test_gender_majority_baseline_is_the_female_share(gender: SequenceDataset) -> None:
    assert int(torch.bincount(gender.train_y).argmax()) == 0  # female is the majority
    female_share = float((gender.test_y == 0).double().mean())
    assert majority_baseline(gender) == pytest.approx(female_share)
    assert 0.7 < majority_baseline(gender) < 0.85


@needs_names
def test_gender_split_is_deterministic(gender: SequenceDataset) -> None:
    again = load_sequences("names-gender")
    assert same(gender, again)
    assert checksum(gender.texts_test) == GENDER_TEST_CHECKSUM


# --------------------------------------------------------------------------- names-next


@needs_names
def test_next_targets_are_the_inputs_shifted(nextchar: SequenceDataset) -> None:
    end = nextchar.vocab.index(END)
    start = nextchar.vocab.index(START)
    assert nextchar.task == "next" and nextchar.classes == nextchar.vocab
    for x, y, lengths, texts in (
        (nextchar.train_x, nextchar.train_y, nextchar.train_len, nextchar.texts_train),
        (nextchar.test_x, nextchar.test_y, nextchar.test_len, nextchar.texts_test),
    ):
        assert x.shape == y.shape and x.shape[1] == max(len(t) for t in texts) + 1
        assert bool((lengths == torch.tensor([len(t) + 1 for t in texts])).all())
        assert bool((x[:, 0] == start).all())
        steps = torch.arange(x.shape[1])
        real = steps[None, :] < lengths[:, None]
        # shifted by one: the target at step t is the input at step t + 1 ...
        assert torch.equal(y[:, :-1][real[:, 1:]], x[:, 1:][real[:, 1:]])
        # ... and the last real target is </s>; beyond the length: pad in, -100 out
        last = y.gather(1, (lengths - 1)[:, None]).squeeze(1)
        assert bool((last == end).all())
        assert bool((y[~real] == IGNORE_INDEX).all()) and bool((x[~real] == 0).all())
        assert bool((y[real] > 1).all())  # never <pad> or <s> as a target


@needs_names
def test_next_is_every_distinct_name_once(nextchar: SequenceDataset) -> None:
    union = set(census("dist.female.first")) | set(census("dist.male.first"))
    texts = nextchar.texts_train + nextchar.texts_test
    assert len(texts) == len(set(texts)) == len(union)
    assert not set(nextchar.texts_train) & set(nextchar.texts_test)
    assert checksum(nextchar.texts_test) == NEXT_TEST_CHECKSUM


@needs_names
def test_next_majority_baseline_is_computed(nextchar: SequenceDataset) -> None:
    train = nextchar.train_y[nextchar.train_y != IGNORE_INDEX]
    common = int(torch.bincount(train).argmax())
    test = nextchar.test_y[nextchar.test_y != IGNORE_INDEX]
    assert majority_baseline(nextchar) == pytest.approx(float((test == common).double().mean()))
    assert 0.0 < majority_baseline(nextchar) < 0.5


def test_unknown_dataset_is_a_data_error() -> None:
    with pytest.raises(DataError, match="names-gender"):
        load_sequences("names-nope")
    assert SEQUENCE_DATASETS == ("names-gender", "names-next", "drug-reviews")


# --------------------------------------------------------------------------- encode / decode


def test_encode_decode_round_trip() -> None:
    vocab = list(VOCAB)
    for text in ("mary", "jo", "x", "abcdefghijklmnopqrstuvwxyz"):
        ids = encode(text, vocab, add_start=True, add_end=True)
        assert ids[0] == vocab.index(START) and ids[-1] == vocab.index(END)
        assert len(ids) == len(text) + 2
        assert decode(ids, vocab) == text
        assert decode(encode(text, vocab), vocab) == text
    assert encode("Mary", vocab) == encode("mary", vocab)  # case-insensitive
    assert decode([vocab.index(PAD), *encode("ann", vocab), vocab.index(END), 3], vocab) == "ann"
    assert encode("", vocab) == []


def test_unknown_character_is_a_clear_data_error() -> None:
    vocab = list(VOCAB)
    with pytest.raises(DataError, match=r"'-'.*'3'|'3'.*'-'"):
        encode("Mary-Ann3", vocab)
    with pytest.raises(DataError, match="not in the vocabulary"):
        encode("José", vocab)
    with pytest.raises(DataError, match="outside the vocabulary"):
        decode([3, 99], vocab)


# --------------------------------------------------------------------------- sample_names


class Favour(nn.Module):
    """A stand-in next-character model: it favours ``letter`` for ``letters`` steps, then
    ``</s>``. <pad> and <s> get the highest logits of all, so only masking keeps them out;
    every input it is fed is recorded."""

    def __init__(self, vocab: list[str], letter: str = "a", letters: int = 3, margin: float = 8.0):
        super().__init__()
        self.vocab, self.margin = vocab, margin
        self.letter, self.letters = vocab.index(letter), letters
        self.scale = nn.Parameter(torch.ones(()))  # so the model has a device
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append(x.clone())
        batch, steps = x.shape
        assert lengths is not None and bool((lengths == steps).all())
        logits = torch.zeros(batch, steps, len(self.vocab))
        logits[:, :, self.vocab.index(PAD)] = 100.0
        logits[:, :, self.vocab.index(START)] = 100.0
        for t in range(steps):  # at step t the name has t letters
            favoured = self.letter if t < self.letters else self.vocab.index(END)
            logits[:, t, favoured] = self.margin
        return logits * self.scale


VOCAB_LIST = list(VOCAB)


def test_low_temperature_gives_the_argmax_path_and_end_stops() -> None:
    model = Favour(VOCAB_LIST, "a", letters=3)
    names = sample_names(model, VOCAB_LIST, n=8, temperature=0.01, max_length=20)
    assert names == ["Aaa"] * 8
    assert max(x.shape[1] for x in model.seen) == 4  # <s> a a a: stopped at </s>, not 20


def test_prefix_is_kept_and_continued() -> None:
    model = Favour(VOCAB_LIST, "e", letters=4)
    names = sample_names(model, VOCAB_LIST, n=3, temperature=0.01, prefix="Jo")
    assert names == ["Joee"] * 3
    assert sample_names(model, VOCAB_LIST, n=2, temperature=0.01, prefix="MAR") == ["Mare"] * 2
    with pytest.raises(DataError, match="'3'"):
        sample_names(model, VOCAB_LIST, prefix="J3")


def test_max_length_caps_the_name() -> None:
    model = Favour(VOCAB_LIST, "b", letters=100)
    assert sample_names(model, VOCAB_LIST, n=2, temperature=0.01, max_length=5) == ["Bbbbb"] * 2
    assert sample_names(model, VOCAB_LIST, n=1, temperature=0.01, prefix="ab", max_length=2) == [
        "Ab"
    ]
    with pytest.raises(ValueError, match="max_length"):
        sample_names(model, VOCAB_LIST, prefix="abc", max_length=2)


def test_pad_and_start_are_never_sampled() -> None:
    model = Favour(VOCAB_LIST, "a", letters=3, margin=0.0)  # flat over the letters and </s>
    names = sample_names(
        model, VOCAB_LIST, n=64, temperature=5.0, generator=torch.Generator().manual_seed(0)
    )
    fed = torch.cat([x[:, 1:].flatten() for x in model.seen])
    assert not bool(((fed == VOCAB_LIST.index(PAD)) | (fed == VOCAB_LIST.index(START))).any())
    assert all(name and name == name.capitalize() for name in names)
    assert all(name.isalpha() and len(name) <= 20 for name in names)
    assert len(set(names)) > 32  # high temperature: varied


def test_high_temperature_flattens() -> None:
    model = Favour(VOCAB_LIST, "a", letters=3, margin=3.0)
    gen = torch.Generator().manual_seed(0)
    sharp = sample_names(model, VOCAB_LIST, n=50, temperature=0.2, generator=gen)
    flat = sample_names(model, VOCAB_LIST, n=50, temperature=50.0, generator=gen)
    assert sharp.count("Aaa") > 45
    assert flat.count("Aaa") < 5 and len(set(flat)) > 40


def test_seeded_generator_is_reproducible() -> None:
    model = Favour(VOCAB_LIST, "a", letters=3, margin=1.0)

    def draw(seed: int) -> list[str]:
        gen = torch.Generator().manual_seed(seed)
        return sample_names(model, VOCAB_LIST, n=20, temperature=1.5, generator=gen)

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_a_value_error(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature must be"):
        sample_names(Favour(VOCAB_LIST), VOCAB_LIST, temperature=temperature)


def test_bad_n_and_wrong_model_output() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sample_names(Favour(VOCAB_LIST), VOCAB_LIST, n=0)

    class Classifier(nn.Module):
        def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
            return torch.zeros(x.shape[0], len(VOCAB_LIST))

    with pytest.raises(ValueError, match="sequence_output=True"):
        sample_names(Classifier(), VOCAB_LIST)


def test_sampling_restores_training_mode() -> None:
    model = Favour(VOCAB_LIST)
    model.train()
    sample_names(model, VOCAB_LIST, n=1, temperature=0.01)
    assert model.training


def _rnn_importable() -> bool:
    try:
        importlib.import_module("threefigures.models.rnn")
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _rnn_importable(), reason="threefigures.models.rnn is not available")
def test_untrained_rnn_fits_the_sequence_shapes() -> None:
    from threefigures.config import ModelConfig
    from threefigures.models import create_model

    vocab = list(VOCAB)
    config = ModelConfig(
        name="rnn",
        vocab_size=len(vocab),
        sequence_output=True,
        num_classes=len(vocab),
        hidden_size=16,
    )
    torch.manual_seed(0)
    model = create_model("rnn", config)
    rows = [encode(t, vocab, add_start=True) for t in ("ann", "jo", "maximilian")]
    x = torch.zeros(3, 11, dtype=torch.int64)
    for i, row in enumerate(rows):
        x[i, : len(row)] = torch.tensor(row)
    lengths = torch.tensor([len(r) for r in rows])
    assert model(x, lengths).shape == (3, 11, len(vocab))
    names = sample_names(model, vocab, n=5, prefix="Jo", generator=torch.Generator().manual_seed(0))
    assert len(names) == 5 and all(n.startswith("Jo") and n.isalpha() for n in names)
