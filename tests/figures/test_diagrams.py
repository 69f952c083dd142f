"""Tests for the block diagram, the sequence figures and the device benchmark figure."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from drawing import predictions
from PIL import Image

from threefigures.figures import (
    BlockSpec,
    draw_blocks,
    draw_device_bench,
    draw_generated,
    draw_sequence_inference,
)

#: A guard against pathological drawing code (one artist per cell of a big grid, say), not a
#: speed target: drawings take 0.2-1.5 s of CPU here. CPU time is not immune to a busy host
#: (a 2.0 s limit failed CI at 2.04 s while the shared machine ran ~35% slow), hence the
#: margin; speed itself is measured in benchmarks/, never asserted.
MAX_SECONDS = 10.0

CNN = [
    BlockSpec("input", "input", (1, 28, 28), 0, "grey pixels"),
    BlockSpec("conv1", "conv", (16, 28, 28), 160, "3×3, ReLU"),
    BlockSpec("pool1", "pool", (16, 14, 14), 0, "max 2×2"),
    BlockSpec("conv2", "conv", (32, 14, 14), 4640, "3×3, ReLU"),
    BlockSpec("pool2", "pool", (32, 7, 7), 0, "max 2×2"),
    BlockSpec("fc1", "dense", (128,), 200_832, "ReLU"),
    BlockSpec("output", "output", (10,), 1290, "softmax"),
]
RNN = [
    BlockSpec("input", "input", (28, 28), 0, "28 rows of 28 pixels"),
    BlockSpec("lstm", "recurrent", (128,), 80_384, "LSTM ×1"),
    BlockSpec("output", "output", (10,), 1290),
]
EMBEDDING_RNN = [
    BlockSpec("input", "input", (12,), 0, "12 characters"),
    BlockSpec("embedding", "embedding", (12, 32), 1920, "60 symbols → 32"),
    BlockSpec("gru", "recurrent", (12, 256), 222_720, "GRU ×2, bidirectional"),
    BlockSpec("fc", "dense", (64,), 16_448, "ReLU"),
    BlockSpec("output", "output", (18,), 1170, "softmax over 18 languages"),
]
GENDERS = ["female", "male"]
LANGUAGES = [f"language {k}" for k in range(29)]
NAMES = ["Abandonato", "Nguyen", "Schmidt", "O'Brien", "Kowalczyk", "Tanaka", "Dubois", "Li"]


def _check_png(path: Path, *, min_width: int = 300, min_height: int = 250) -> np.ndarray:
    """Open ``path`` as a PNG, check its size and that it is not blank; return its pixels."""
    assert path.is_file()
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert width >= min_width, f"{path.name} is only {width}px wide"
    assert height >= min_height, f"{path.name} is only {height}px tall"
    assert pixels.std() > 5.0, f"{path.name} looks blank"
    return pixels


def _red_pixels(path: Path) -> int:
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.int32)
    return int(np.sum((rgb[..., 0] > 150) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)))


def _timed(draw: Callable[[], Path]) -> Path:
    start = time.process_time()
    out = draw()
    assert time.process_time() - start < MAX_SECONDS
    return out


def _only(tmp_path: Path, *names: str) -> None:
    """Exactly ``names`` are in ``tmp_path``: no temporary files were left behind."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def _bench_rows(devices: list[str], models: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for m, model in enumerate(models):
        for d, device in enumerate(devices):
            for batch in (64, 128, 256, 512, 1024):
                gpu = device.startswith("cuda")
                speed = 30.0 if gpu else float(d + 1)
                rate = 2_000.0 * (m + 1) * speed * (batch / 64) ** (0.8 if gpu else 0.2)
                rows.append(
                    {
                        "model": model,
                        "device": device,
                        "batch_size": batch,
                        "ms_per_step": 1000.0 * batch / rate,
                        "samples_per_s": rate,
                    }
                )
    return rows


# --- Block diagram -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "blocks"), [("cnn", CNN), ("rnn", RNN), ("embedding_rnn", EMBEDDING_RNN)]
)
def test_blocks(tmp_path: Path, name: str, blocks: list[BlockSpec]) -> None:
    target = tmp_path / f"{name}.png"
    out = _timed(lambda: draw_blocks(blocks, target, subtitle=f"{name} · digits"))
    assert out == target
    _check_png(out, min_width=800)
    _only(tmp_path, f"{name}.png")


def test_blocks_twelve_blocks_and_synonym_kinds(tmp_path: Path) -> None:
    blocks = [BlockSpec("input", "input", (3, 32, 32), 0)]
    channels, side = 3, 32
    for i in range(1, 4):
        out_channels = 32 * 2**i
        blocks.append(
            BlockSpec(f"conv{i}", "conv2d", (out_channels, side, side), 9 * channels * out_channels)
        )
        blocks.append(
            BlockSpec(f"bn{i}", "batchnorm", (out_channels, side, side), 2 * out_channels)
        )
        side //= 2
        blocks.append(BlockSpec(f"pool{i}", "maxpool", (out_channels, side, side), 0, "max 2×2"))
        channels = out_channels
    blocks += [
        BlockSpec("fc1", "linear", (256,), 1_048_832),
        BlockSpec("output", "linear", (10,), 2570),
    ]
    assert len(blocks) == 12
    out = _timed(lambda: draw_blocks(blocks, tmp_path / "twelve.png", dpi=150))
    _check_png(out, min_width=800)


def test_blocks_accepts_str_path_and_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "blocks.png"
    out = draw_blocks(RNN, str(target), dpi=100)
    assert isinstance(out, Path)
    assert out == target
    _check_png(out, min_width=800 * 100 // 150)


def test_blocks_rejects_bad_blocks(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        draw_blocks([], tmp_path / "none.png")
    with pytest.raises(ValueError):
        draw_blocks([BlockSpec("x", "conv", (0, 28, 28), 0)], tmp_path / "zero.png")
    with pytest.raises(ValueError):
        draw_blocks([BlockSpec("x", "conv", (1, 2, 3, 4), 0)], tmp_path / "four.png")
    with pytest.raises(ValueError):
        draw_blocks([BlockSpec("x", "dense", (), 0)], tmp_path / "empty.png")
    with pytest.raises(ValueError):
        draw_blocks([BlockSpec("x", "dense", (10,), -1)], tmp_path / "negative.png")
    assert not any(tmp_path.iterdir())


# --- Sequence inference --------------------------------------------------------------------------


@pytest.mark.parametrize("with_labels", [True, False])
def test_sequence_inference_two_classes(tmp_path: Path, with_labels: bool) -> None:
    rng = np.random.default_rng(0)
    probs, labels = predictions(len(NAMES), 2, rng, wrong=1)
    out = _timed(
        lambda: draw_sequence_inference(
            NAMES,
            probs,
            GENDERS,
            tmp_path / "seq2.png",
            labels=labels if with_labels else None,
        )
    )
    _check_png(out)
    _only(tmp_path, "seq2.png")


@pytest.mark.parametrize("with_labels", [True, False])
def test_sequence_inference_top5_of_29(tmp_path: Path, with_labels: bool) -> None:
    rng = np.random.default_rng(1)
    n = 12  # more than max_items: the first 10 are drawn
    probs, labels = predictions(n, len(LANGUAGES), rng, wrong=3)
    texts = [*NAMES, "", "A-very-long-double-barrelled-surname", "Smith", "Jones"]
    out = _timed(
        lambda: draw_sequence_inference(
            texts,
            probs,
            LANGUAGES,
            tmp_path / "seq29.png",
            labels=labels if with_labels else None,
            max_items=10,
        )
    )
    _check_png(out, min_width=800)
    _only(tmp_path, "seq29.png")


def test_sequence_inference_wrong_prediction_is_red(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    probs, labels = predictions(3, 2, rng, wrong=0)
    texts = NAMES[:3]
    right = draw_sequence_inference(texts, probs, GENDERS, tmp_path / "right.png", labels=labels)
    wrong_labels = labels.copy()
    wrong_labels[0] = 1 - labels[0]
    wrong = draw_sequence_inference(
        texts, probs, GENDERS, tmp_path / "wrong.png", labels=wrong_labels
    )
    assert _red_pixels(wrong) > _red_pixels(right) + 200


def test_sequence_inference_rejects_bad_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    probs, labels = predictions(3, 2, rng)
    with pytest.raises(ValueError):  # 2 texts, 3 rows of probabilities
        draw_sequence_inference(NAMES[:2], probs, GENDERS, tmp_path / "a.png")
    with pytest.raises(ValueError):  # 3 class names, 2 columns
        draw_sequence_inference(NAMES[:3], probs, [*GENDERS, "other"], tmp_path / "b.png")
    with pytest.raises(ValueError):  # 2 labels for 3 texts
        draw_sequence_inference(NAMES[:3], probs, GENDERS, tmp_path / "c.png", labels=labels[:2])
    with pytest.raises(ValueError, match="softmax"):
        draw_sequence_inference(NAMES[:3], probs * 3, GENDERS, tmp_path / "d.png")
    with pytest.raises(ValueError):
        draw_sequence_inference(
            NAMES[:3], probs, GENDERS, tmp_path / "e.png", labels=np.array([0, 1, 2])
        )
    with pytest.raises(ValueError):
        draw_sequence_inference([], np.zeros((0, 2)), GENDERS, tmp_path / "f.png")
    assert not any(tmp_path.iterdir())


# --- Generated names -----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "prefix"), [(5, ""), (18, "Al"), (75, "")])
def test_generated(tmp_path: Path, count: int, prefix: str) -> None:
    stems = ["varo", "ina", "bertine", "fredo", "", "exandros", "iyah", "ma", "vin"]
    samples = [prefix + stems[k % len(stems)] for k in range(count)]
    samples[-1] = "Bob"  # a sample that does not start with the prefix
    out = _timed(
        lambda: draw_generated(samples, tmp_path / "gen.png", temperature=0.8, prefix=prefix)
    )
    _check_png(out, min_height=200)
    _only(tmp_path, "gen.png")


def test_generated_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        draw_generated([], tmp_path / "a.png", temperature=1.0)
    with pytest.raises(ValueError):
        draw_generated(["Ann"], tmp_path / "b.png", temperature=0.0)
    with pytest.raises(ValueError):
        draw_generated(["Ann"], tmp_path / "c.png", temperature=float("nan"))
    assert not any(tmp_path.iterdir())


# --- Device benchmark ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "devices",
    [
        ["cpu (1 thread)"],
        ["cuda (NVIDIA H100 80GB HBM3)", "cpu (2 threads)", "cpu (1 thread)"],
    ],
)
def test_device_bench(tmp_path: Path, devices: list[str]) -> None:
    rows = _bench_rows(devices, ["rnn", "mlp", "cnn"])
    out = _timed(
        lambda: draw_device_bench(
            rows,
            tmp_path / "devices.png",
            note="no GPU on this machine: comparing 1 and 2 CPU threads",
        )
    )
    _check_png(out, min_width=800)
    _only(tmp_path, "devices.png")


def test_device_bench_one_model_without_ms_and_missing_points(tmp_path: Path) -> None:
    rows = _bench_rows(["cpu (1 thread)", "cpu (2 threads)"], ["mlp"])
    for row in rows:
        del row["ms_per_step"]
    rows = [r for r in rows if not (r["device"] == "cpu (2 threads)" and r["batch_size"] == 1024)]
    out = _timed(lambda: draw_device_bench(rows, tmp_path / "one.png"))
    _check_png(out)


def test_device_bench_rejects_bad_rows(tmp_path: Path) -> None:
    good = _bench_rows(["cpu (1 thread)"], ["mlp"])
    with pytest.raises(ValueError):
        draw_device_bench([], tmp_path / "a.png")
    with pytest.raises(ValueError):  # a row without samples_per_s
        draw_device_bench(
            [*good, {"model": "mlp", "device": "cpu", "batch_size": 8}], tmp_path / "b.png"
        )
    with pytest.raises(ValueError):  # the same measurement twice
        draw_device_bench([*good, good[0]], tmp_path / "c.png")
    with pytest.raises(ValueError):
        draw_device_bench([{**good[0], "samples_per_s": 0.0}], tmp_path / "d.png")
    with pytest.raises(ValueError):
        draw_device_bench([{**good[0], "batch_size": 0}], tmp_path / "e.png")
    with pytest.raises(ValueError):
        draw_device_bench([{**good[0], "ms_per_step": -1.0}], tmp_path / "f.png")
    assert not any(tmp_path.iterdir())
