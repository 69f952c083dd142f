"""Bad input across every surface, one row per case: a clear one-line error (non-zero exit,
no traceback) or a correct answer, nothing written half-way, and the store unchanged.

Each row records what was expected and what happened; ``pytest --reliability-report FILE``
(``make reliability``) turns them into docs/RELIABILITY.md.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from threefigures.cli import main


@dataclass(frozen=True)
class Case:
    surface: str
    name: str
    make: Callable[[Path, Path], list[str]]  # (tmp folder, trained store) → CLI arguments
    expect: str  # "error: <substring>" or "ok: <substring>"
    hide: tuple[str, ...] = ()  # packages made unimportable for this case


def _digit(path: Path, *, size: tuple[int, int] = (200, 200), mode: str = "RGB") -> Path:
    img = Image.new("RGB", size, (240, 240, 235))
    w, h = size
    ImageDraw.Draw(img).line(
        [(w * 0.3, h * 0.2), (w * 0.7, h * 0.2), (w * 0.4, h * 0.85)],
        fill=(15, 15, 15),
        width=max(2, w // 15),
    )
    img.convert(mode).save(path)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(path: Path) -> Path:
    """A valid PNG header declaring 20000×20000 pixels (400 megapixels), tiny on disk."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 20001 * 4)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def _truncated(path: Path, fmt: str) -> Path:
    buf = io.BytesIO()
    Image.open(_digit(path.with_suffix(".src." + fmt.lower()))).save(buf, fmt)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _predict(make_file: Callable[[Path], Path | str]) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: ["--store", str(store), "predict", str(make_file(tmp))]


def _explain(make_file: Callable[[Path], Path | str]) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: [
        "--store",
        str(store),
        "explain",
        str(make_file(tmp)),
        "--out",
        str(tmp / "why"),
    ]


def _animated(tmp: Path) -> Path:
    first = Image.new("L", (60, 60), 250)
    ImageDraw.Draw(first).line([(20, 10), (40, 50)], fill=0, width=5)
    blank = Image.new("L", (60, 60), 250)
    first.save(tmp / "anim.gif", save_all=True, append_images=[blank])
    return tmp / "anim.gif"


def _sixteen_bit(tmp: Path) -> Path:
    arr = np.full((80, 80), 60000, dtype=np.uint16)
    arr[15:65, 35:45] = 2000
    Image.fromarray(arr).save(tmp / "deep.png")
    return tmp / "deep.png"


def _cmyk(tmp: Path) -> Path:
    path = _digit(tmp / "rgb.png")
    Image.open(path).convert("CMYK").save(tmp / "cmyk.jpg")
    return tmp / "cmyk.jpg"


def _exif_rotated(tmp: Path) -> Path:
    img = Image.open(_digit(tmp / "plain.png")).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(tmp / "rotated.jpg", exif=exif)
    return tmp / "rotated.jpg"


def _palette_alpha(tmp: Path) -> Path:
    img = Image.new("P", (50, 50), 0)
    img.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    ImageDraw.Draw(img).line([(25, 5), (25, 45)], fill=1, width=5)
    img.info["transparency"] = 0
    img.save(tmp / "palette.png", transparency=0)
    return tmp / "palette.png"


def _flat(tmp: Path, value: int, name: str) -> Path:
    Image.new("L", (64, 64), value).save(tmp / name)
    return tmp / name


def _write(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _non_utf8_name(tmp: Path) -> str:
    raw = os.fsencode(str(tmp)) + b"/d\xe9j\xe0-vu.png"
    _digit(Path(os.fsdecode(raw)))
    return os.fsdecode(raw)


def _dangling(tmp: Path) -> Path:
    (tmp / "gone.png").symlink_to(tmp / "does-not-exist.png")
    return tmp / "gone.png"


# --- checkpoints and runs: damage a copy of the trained run --------------------------------


def _damaged_run(edit: Callable[[Path], None]) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, store: Path) -> list[str]:
        from threefigures.runs.store import Store

        run = Store(store).resolve("latest")
        copy_root = tmp / "store"
        shutil.copytree(store.parent, copy_root)
        copy_store = copy_root / store.name
        folder = Path(str(run.run_dir).replace(str(store.parent), str(copy_root)))
        # point the copied run at its copied folder
        import sqlite3

        with sqlite3.connect(copy_store) as conn:
            conn.execute("UPDATE runs SET run_dir=? WHERE id=?", (str(folder), run.id))
        edit(folder)
        return ["--store", str(copy_store), "predict", str(_digit(tmp / "d.png")), "--run", run.id]

    return make


def _truncate_weights(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])


def _edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        raw = json.loads((folder / "config.json").read_text())
        change(raw["run"])
        (folder / "config.json").write_text(json.dumps(raw))

    return edit


def _pickle_weights(folder: Path) -> None:
    import pickle

    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (folder / "PWNED",))

    (folder / "model.safetensors").write_bytes(pickle.dumps(Boom()))


# --- data files ------------------------------------------------------------------------------


def _idx(tmp: Path, *, magic_ok: bool = True, counts_match: bool = True) -> list[str]:
    root = tmp / "idx"
    root.mkdir()
    n = 20
    images = np.zeros((n, 28, 28), np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    img_magic = 2051 if magic_ok else 1234
    files = {
        "train-images-idx3-ubyte.gz": struct.pack(">IIII", img_magic, n, 28, 28) + images.tobytes(),
        "train-labels-idx1-ubyte.gz": struct.pack(">II", 2049, n if counts_match else n - 3)
        + labels[: n if counts_match else n - 3].tobytes(),
        "t10k-images-idx3-ubyte.gz": struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes(),
        "t10k-labels-idx1-ubyte.gz": struct.pack(">II", 2049, n) + labels.tobytes(),
    }
    for name, data in files.items():
        (root / name).write_bytes(gzip.compress(data))
    return ["train", "--data", "mnist", "--data-dir", str(root), "--epochs", "1", "--quiet"]


def _folder(tmp: Path, classes: dict[str, int], sizes: tuple[int, ...] = (40,)) -> str:
    root = tmp / "folder"
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            size = sizes[i % len(sizes)]
            _digit(root / name / f"{i}.png", size=(size, size))
    return f"folder:{root}"


def _train(*args: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: ["--store", str(tmp / "fresh.db"), "train", *args, "--quiet"]


def _write_1x1(tmp: Path) -> Path:
    Image.new("L", (1, 1), 0).save(tmp / "one.png")
    return tmp / "one.png"


def _bomb_png_in(tmp: Path) -> Path:
    return _bomb_png(tmp / "bomb.png")


def _latest_id(store: Path) -> str:
    from threefigures.runs.store import Store

    return Store(store).resolve("latest").id


TRAIN_OK = ["--data", "sklearn-digits", "--layers", "16", "--epochs", "1"]

CASES = [
    # images: predict
    Case("image", "empty file", _predict(lambda t: _write(t, "empty.png", b"")), "error: empty"),
    Case(
        "image",
        "1x1 pixel",
        _predict(_write_1x1),
        "error: ink",
    ),
    Case("image", "decompression bomb (20000x20000 PNG)", _predict(_bomb_png_in), "error: pixels"),
    Case("image", "truncated PNG", _predict(lambda t: _truncated(t / "t.png", "PNG")), "error: "),
    Case("image", "truncated JPEG", _predict(lambda t: _truncated(t / "t.jpg", "JPEG")), "error: "),
    Case("image", "animated GIF", _predict(_animated), "ok: first frame"),
    Case("image", "16-bit PNG", _predict(_sixteen_bit), "ok: "),
    Case("image", "CMYK JPEG", _predict(_cmyk), "ok: "),
    Case("image", "photo with EXIF rotation", _predict(_exif_rotated), "ok: EXIF"),
    Case("image", "palette PNG with transparency", _predict(_palette_alpha), "ok: "),
    Case("image", "all-white image", _predict(lambda t: _flat(t, 255, "w.png")), "error: ink"),
    Case("image", "all-black image", _predict(lambda t: _flat(t, 0, "k.png")), "error: ink"),
    Case(
        "image",
        "text renamed .png",
        _predict(lambda t: _write(t, "note.png", b"hello, this is text\n" * 20)),
        "error: not an image",
    ),
    Case(
        "image",
        "SVG renamed .png",
        _predict(
            lambda t: _write(t, "v.png", b'<svg xmlns="http://www.w3.org/2000/svg"><path/></svg>')
        ),
        "error: not an image",
    ),
    Case(
        "image",
        "random binary renamed .png",
        _predict(lambda t: _write(t, "r.png", np.random.default_rng(0).bytes(3000))),
        "error: not an image",
    ),
    Case("image", "a directory passed as a file", _predict(lambda t: t), "error: is a directory"),
    Case("image", "missing file", _predict(lambda t: t / "nope.png"), "error: no such file"),
    Case("image", "unreadable file (dangling link)", _predict(_dangling), "error: "),
    Case("image", "non-UTF-8 file name", _predict(_non_utf8_name), "ok: "),
    Case("image", "RGBA PNG", _predict(lambda t: _digit(t / "a.png", mode="RGBA")), "ok: "),
    Case(
        "image",
        "20 MB-class JPEG (6000x4000 photo)",
        _predict(lambda t: _digit(t / "big.jpg", size=(6000, 4000))),
        "ok: ",
    ),
    # images: explain
    Case("explain", "empty file", _explain(lambda t: _write(t, "e.png", b"")), "error: empty"),
    Case("explain", "all-white image", _explain(lambda t: _flat(t, 255, "w.png")), "error: ink"),
    Case("explain", "bomb", _explain(_bomb_png_in), "error: pixels"),
    Case("explain", "a good photo", _explain(lambda t: _digit(t / "ok.jpg")), "ok: "),
    # checkpoints and runs
    Case("run", "truncated safetensors", _damaged_run(_truncate_weights), "error: "),
    Case(
        "run",
        "weights whose shapes do not match the config",
        _damaged_run(_edit_config(lambda c: c["model"].update(layers=[32]))),
        "error: shape",
    ),
    Case(
        "run",
        "config.json with a missing key",
        _damaged_run(_edit_config(lambda c: c["train"].pop("lr"))),
        "error: missing keys lr",
    ),
    Case(
        "run",
        "config.json with a wrong type",
        _damaged_run(_edit_config(lambda c: c["train"].update(epochs="three"))),
        "error: must be an integer",
    ),
    Case(
        "run",
        "config.json with an unknown model",
        _damaged_run(_edit_config(lambda c: c["model"].update(name="transformer"))),
        "error: unknown model",
    ),
    Case(
        "run",
        "config.json that is not JSON",
        _damaged_run(lambda f: (f / "config.json").write_text("{not json")),
        "error: unreadable",
    ),
    Case("run", "a pickle renamed .safetensors", _damaged_run(_pickle_weights), "error: pickle"),
    Case(
        "run",
        "a run whose folder was deleted",
        _damaged_run(lambda f: shutil.rmtree(f)),
        "error: ",
    ),
    Case(
        "run",
        "an unknown run id",
        lambda t, s: ["--store", str(s), "predict", str(_digit(t / "x.png")), "--run", "nope"],
        "error: no run",
    ),
    # CLI arguments
    Case("cli", "zero epochs", _train(*TRAIN_OK[:4], "--epochs", "0"), "error: epochs"),
    Case("cli", "negative epochs", _train(*TRAIN_OK[:4], "--epochs", "-2"), "error: epochs"),
    Case(
        "cli",
        "batch larger than the dataset",
        _train(*TRAIN_OK, "--batch-size", "100000"),
        "error: larger than",
    ),
    Case("cli", "NaN learning rate", _train(*TRAIN_OK, "--lr", "nan"), "error: learning rate"),
    Case("cli", "negative learning rate", _train(*TRAIN_OK, "--lr", "-1"), "error: learning rate"),
    Case("cli", "unknown dataset", _train("--data", "imagenet"), "error: unknown dataset"),
    Case("cli", "unknown model", _train(*TRAIN_OK, "--model", "gpt"), "error: unknown model"),
    Case("cli", "unknown loss", _train(*TRAIN_OK, "--loss", "hinge"), "error: unknown loss"),
    Case("cli", "BCE on ten classes", _train(*TRAIN_OK, "--loss", "bce"), "error: binary"),
    Case(
        "cli",
        "dropout of 1",
        _train(*TRAIN_OK, "--dropout", "1"),
        "error: dropout",
    ),
    Case(
        "cli",
        "--resume of a finished run",
        lambda t, s: ["--store", str(s), "train", "--resume", _latest_id(s)],
        "error: already finished",
    ),
    Case(
        "cli",
        "--resume of a missing run",
        lambda t, s: ["--store", str(s), "train", "--resume", "20990101-000000-dead"],
        "error: no run",
    ),
    Case(
        "cli",
        "attention on an MLP",
        _train(*TRAIN_OK, "--attention"),
        "error: attention",
    ),
    Case(
        "cli",
        "unknown attribution method",
        lambda t, s: ["--store", str(s), "explain", str(_digit(t / "m.png")), "--method", "lime"],
        "error: unknown attribution method",
    ),
    Case(
        "cli",
        "Grad-CAM on an MLP",
        lambda t, s: [
            "--store",
            str(s),
            "explain",
            str(_digit(t / "g.png")),
            "--method",
            "gradcam",
        ],
        "error: convolutional",
    ),
    # texts (predict --text / explain --text)
    Case(
        "cli",
        "--text given to an image run",
        lambda t, s: ["--store", str(s), "predict", "--text", "this helped"],
        "error: classifies images",
    ),
    Case(
        "cli",
        "predict with neither images nor --text",
        lambda t, s: ["--store", str(s), "predict"],
        "error: nothing to predict",
    ),
    Case(
        "cli",
        "an empty --text",
        lambda t, s: ["--store", str(s), "predict", "--run", _text_run(s), "--text", ""],
        "error: an empty text",
    ),
    Case(
        "cli",
        "a whitespace-only --text",
        lambda t, s: ["--store", str(s), "predict", "--run", _text_run(s), "--text", " \t "],
        "error: an empty text",
    ),
    Case(
        "cli",
        "--text that is not valid UTF-8",
        lambda t, s: [
            "--store",
            str(s),
            "predict",
            "--run",
            _text_run(s),
            "--text",
            b"caf\xe9".decode("utf-8", "surrogateescape"),
        ],
        "error: not valid UTF-8",
    ),
    Case(
        "cli",
        "an image given to a text run",
        lambda t, s: [
            "--store",
            str(s),
            "predict",
            "--run",
            _text_run(s),
            str(_digit(t / "i.png")),
        ],
        "error: reads text",
    ),
    Case(
        "cli",
        "a text run's --text explained",
        lambda t, s: [
            "--store",
            str(s),
            "explain",
            "--run",
            _text_run(s),
            "--text",
            "Anna",
            "--out",
            str(t / "explained"),
        ],
        "ok: integrated-gradients",
    ),
    # data files
    Case(
        "data",
        "IDX file with a wrong magic number",
        lambda t, s: ["--store", str(t / "fresh.db"), *_idx(t, magic_ok=False)],
        "error: magic",
    ),
    Case(
        "data",
        "image and label counts that differ",
        lambda t, s: ["--store", str(t / "fresh.db"), *_idx(t, counts_match=False)],
        "error: ",
    ),
    Case(
        "data",
        "folder: dataset with one class",
        lambda t, s: _train("--data", _folder(t, {"a": 4}))(t, s),
        "error: at least two classes",
    ),
    Case(
        "data",
        "folder: dataset with an empty class folder",
        lambda t, s: _train("--data", _folder(t, {"a": 4, "b": 0}))(t, s),
        "error: ",
    ),
    Case(
        "data",
        "folder: dataset with mixed image sizes",
        lambda t, s: _train(
            "--data",
            _folder(t, {"a": 6, "b": 6}, sizes=(40, 90, 300)),
            "--epochs",
            "1",
            "--batch-size",
            "4",
        )(t, s),
        "ok: ",
    ),
    # tables (breast-cancer)
    Case(
        "tables",
        "--pos-weight 0",
        _train("--data", "breast-cancer", "--pos-weight", "0"),
        "error: --pos-weight must be a positive number",
    ),
    Case(
        "tables",
        "--pos-weight -1",
        _train("--data", "breast-cancer", "--pos-weight", "-1"),
        "error: --pos-weight must be a positive number",
    ),
    Case(
        "tables",
        "--pos-weight nan",
        _train("--data", "breast-cancer", "--pos-weight", "nan"),
        "error: --pos-weight must be a positive number",
    ),
    Case(
        "tables",
        "--pos-weight with --loss ce",
        _train("--data", "breast-cancer", "--loss", "ce", "--pos-weight", "2"),
        "error: use it with --loss bce",
    ),
    Case(
        "tables",
        "a CNN on a table",
        _train("--data", "breast-cancer", "--model", "cnn"),
        "error: use --model mlp",
    ),
    Case(
        "tables",
        "an image given to a table run",
        lambda t, s: [
            "--store",
            str(s),
            "predict",
            "--run",
            _table_run(s),
            str(_digit(t / "seven.png")),
        ],
        "error: reads a table of 30 features",
    ),
]


def _reuse_folder(tmp: Path, drive: str | None, medical: str | None) -> list[str]:
    """``applications --reuse`` over a folder holding the given (damaged) results."""
    out = tmp / "apps"
    for name, text in (("drive/drive.json", drive), ("medical/medical.json", medical)):
        if text is not None:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text)
    return ["--store", str(tmp / "fresh.db"), "applications", "--reuse", "--out", str(out)]


CASES += [
    # Figure 10's applications and the FAQ
    Case(
        "applications",
        "drive without the simulator installed",
        lambda t, s: ["drive", "--quick", "--out", str(t / "drive")],
        "error: drive needs the CarRacing simulator",
        hide=("gymnasium",),
    ),
    Case(
        "applications",
        "applications --reuse with no results",
        lambda t, s: _reuse_folder(t, None, None),
        "error: ",
    ),
    Case(
        "applications",
        "applications --reuse with a truncated drive.json",
        lambda t, s: _reuse_folder(t, '{"schema": 1, "drivers": {"net', None),
        "error: ",
    ),
    Case(
        "applications",
        "applications --reuse with a damaged medical.json",
        lambda t, s: _reuse_folder(t, '{"schema": 1, "drivers": {}}', '{"network": 1}'),
        "error: ",
    ),
    Case(
        "applications",
        "faq with an empty store and no results",
        lambda t, s: [
            "--store",
            str(t / "empty.db"),
            "faq",
            "--out",
            str(t / "faq.md"),
            "--claims",
            str(t / "none"),
            "--applications",
            str(t / "none"),
        ],
        "error: the FAQ cites stored runs",
    ),
]


def _table_run(store: Path) -> str:
    from threefigures.runs.store import Store

    return next(r.id for r in Store(store).list_runs() if r.data_name == "breast-cancer")


def _text_run(store: Path) -> str:
    """The store's run that reads text (names-gender); `latest` is the image run."""
    from threefigures.runs.store import Store

    return next(r.id for r in Store(store).list_runs() if r.data_name == "names-gender")


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("bad") / "runs" / "threefigures.db"
    # a text run first (names: the cheapest), then the image run every other case uses
    names = ["train", "--data", "names-gender", "--model", "rnn", "--epochs", "1", "--quiet"]
    assert main(["--store", str(store), *names]) == 0
    table = ["train", "--data", "breast-cancer", "--epochs", "1", "--quiet"]
    assert main(["--store", str(store), *table]) == 0
    assert main(["--store", str(store), "train", *TRAIN_OK, "--quiet"]) == 0
    return store


def _snapshot(store: Path) -> tuple[object, ...]:
    from threefigures.runs.store import Store

    runs = Store(store).list_runs()
    files = sorted(
        (str(p.relative_to(store.parent)), p.stat().st_size)
        for p in store.parent.rglob("*")
        if p.is_file() and not p.name.startswith("threefigures.db")
    )
    return tuple((r.id, r.status, r.epochs_done) for r in runs), tuple(files)


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.surface}: {c.name}")
def test_bad_input(
    case: Case, trained_store: Path, tmp_path: Path, capsys, record_property, monkeypatch
) -> None:
    import sys

    for name in case.hide:  # `import name` (and its submodules) now raises ImportError
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)
    before = _snapshot(trained_store)
    args = case.make(tmp_path, trained_store)
    code = main(args)
    out, err = capsys.readouterr()
    kind, _, needle = case.expect.partition(": ")
    observed = (err.strip() or out.strip()).splitlines()
    record_property("surface", case.surface)
    record_property("expected", case.expect)
    record_property("observed", f"exit {code}: " + (observed[-1] if observed else ""))
    if kind == "error":
        assert code != 0, out
        lines = [line for line in err.strip().splitlines() if line]
        assert lines, "no message"
        assert all(line.startswith("error: ") for line in lines), err
        assert "Traceback" not in err
        assert needle.lower() in err.lower(), err
    else:
        assert code == 0, err
        assert needle.lower() in (out + err).lower(), out + err
    # nothing already saved is touched: the shared store is the same before and after
    assert _snapshot(trained_store) == before
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("PWNED"))
