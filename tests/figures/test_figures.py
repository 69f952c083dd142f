"""Tests for threefigures.figures: every figure is a real, non-blank image, written atomically."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from drawing import predictions, softmax
from PIL import Image

from threefigures.data.sources import FASHION_CLASSES as FASHION
from threefigures.figures import (
    LayerSpec,
    TrainingHistory,
    draw_confusion,
    draw_inference,
    draw_structure,
    draw_training,
)
from threefigures.figures._style import figure, save, truncate

DIGITS = [str(k) for k in range(10)]


def _check_png(path: Path, *, min_width: int = 300, min_height: int = 300) -> np.ndarray:
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


def _layers(hidden: int, *, output: int = 10, width: int = 256) -> list[LayerSpec]:
    layers = [LayerSpec("Input", 784, None, 0)]
    prev = 784
    for i in range(1, hidden + 1):
        layers.append(LayerSpec(f"Hidden {i}", width, "relu", prev * width + width))
        prev = width
    layers.append(LayerSpec("Output", output, "softmax", prev * output + output))
    return layers


def _images(n: int, rng: np.random.Generator) -> np.ndarray:
    """Float images in [0, 1] with a bright stroke, like MNIST digits."""
    imgs = np.zeros((n, 28, 28))
    for k in range(n):
        r, c = rng.integers(4, 12, size=2)
        imgs[k, r : r + 14, c : c + 3] = 1.0
        imgs[k, r : r + 3, c : c + 10] = 0.7
    return imgs


# --- Figure 1 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", [1, 3, 6])
def test_structure_hidden_layers(tmp_path: Path, hidden: int) -> None:
    out = draw_structure(_layers(hidden), tmp_path / f"structure_{hidden}.png", subtitle="MNIST")
    assert out == tmp_path / f"structure_{hidden}.png"
    _check_png(out, min_width=800)


def test_structure_two_unit_output(tmp_path: Path) -> None:
    layers = [
        LayerSpec("Input", 3, None, 0),
        LayerSpec("Hidden 1", 4, "relu", 16),
        LayerSpec("Output", 2, "softmax", 10),
    ]
    out = draw_structure(layers, tmp_path / "tiny.png", dpi=100)
    _check_png(out, min_width=800 * 100 // 150)


def test_structure_creates_parent_dirs_and_accepts_str(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "fig1.png"
    out = draw_structure(_layers(1), str(target))
    assert isinstance(out, Path)
    assert out == target
    _check_png(out, min_width=800)


def test_structure_rejects_bad_layers(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        draw_structure([], tmp_path / "none.png")
    with pytest.raises(ValueError):
        draw_structure([LayerSpec("Input", 0, None, 0)], tmp_path / "zero.png")
    assert not any(tmp_path.iterdir())


# --- Figure 2 ------------------------------------------------------------------------------------


def _history(epochs: int, per_epoch: int, rng: np.random.Generator) -> TrainingHistory:
    n = epochs * per_epoch
    x = np.arange(1, n + 1) / per_epoch
    loss = 2.3 * np.exp(-3.0 * x) + 0.1 + 0.05 * rng.random(n)
    epoch = list(range(1, epochs + 1))
    epoch_loss = [float(loss[k * per_epoch : (k + 1) * per_epoch].mean()) for k in range(epochs)]
    acc: list[float | None] = [min(0.99, 0.85 + 0.03 * k) for k in range(epochs)]
    if epochs > 2:
        acc[1] = None
    return TrainingHistory(
        batch_epoch=x.tolist(),
        batch_loss=loss.tolist(),
        epoch=epoch,
        epoch_loss=epoch_loss,
        val_accuracy=acc,
        val_loss=[v + 0.02 for v in epoch_loss],
    )


@pytest.mark.parametrize("epochs", [1, 5])
def test_training(tmp_path: Path, epochs: int) -> None:
    rng = np.random.default_rng(epochs)
    out = draw_training(_history(epochs, 100, rng), tmp_path / f"training_{epochs}.png")
    _check_png(out, min_width=800)


def test_training_many_batches_without_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    h = _history(3, 4000, rng)  # 12,000 batch points: thinned for drawing
    h = TrainingHistory(h.batch_epoch, h.batch_loss, h.epoch, h.epoch_loss, val_accuracy=[])
    start = time.process_time()
    out = draw_training(h, tmp_path / "long.png")
    # a guard against drawing all 12,000 points one by one, not a speed target (~0.5 s here;
    # wall time under 2 s would fail whenever the shared host runs slow)
    assert time.process_time() - start < 10.0
    _check_png(out)


def test_training_rejects_mismatched_and_percent_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        draw_training(TrainingHistory([0.5, 1.0], [1.0], [1], [1.0], [0.9]), tmp_path / "x.png")
    with pytest.raises(ValueError):
        draw_training(TrainingHistory([1.0], [1.0], [1], [1.0], [93.4]), tmp_path / "y.png")


# --- Figure 3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 24])
def test_inference_digits_with_labels(tmp_path: Path, n: int) -> None:
    rng = np.random.default_rng(n)
    probs, labels = predictions(n, 10, rng, wrong=min(3, n))
    out = draw_inference(_images(n, rng), probs, DIGITS, tmp_path / f"inf_{n}.png", labels=labels)
    _check_png(out)


def test_inference_wrong_prediction_is_marked_red(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    images = _images(2, rng)
    probs, labels = predictions(2, 10, rng, wrong=0)
    right = draw_inference(images, probs, DIGITS, tmp_path / "right.png", labels=labels)
    wrong_labels = labels.copy()
    wrong_labels[0] = (labels[0] + 1) % 10
    wrong = draw_inference(images, probs, DIGITS, tmp_path / "wrong.png", labels=wrong_labels)

    def red_pixels(path: Path) -> int:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.int32)
        return int(np.sum((rgb[..., 0] > 150) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)))

    assert red_pixels(wrong) > red_pixels(right) + 200


def test_inference_uint8_binary_without_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = (_images(5, rng) * 255).astype(np.uint8)
    probs = softmax(rng.normal(size=(5, 2)))
    out = draw_inference(images, probs, ["cat", "dog"], tmp_path / "binary.png")
    _check_png(out)


def test_inference_long_class_names_and_max_items(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    probs, labels = predictions(30, 10, rng, wrong=4)
    images = (_images(30, rng) * 255).astype(np.uint8)[:, None]  # (N, 1, 28, 28) is accepted
    out = draw_inference(
        images, probs, FASHION, tmp_path / "fashion.png", labels=labels, max_items=12
    )
    _check_png(out)


def test_inference_rejects_bad_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    images = _images(2, rng)
    probs, _ = predictions(2, 10, rng)
    with pytest.raises(ValueError, match="softmax"):
        draw_inference(images, probs * 3, DIGITS, tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        draw_inference(images * 4 - 1, probs, DIGITS, tmp_path / "b.png")
    with pytest.raises(ValueError):
        draw_inference(images, probs, DIGITS[:5], tmp_path / "c.png")
    with pytest.raises(ValueError):
        draw_inference(images, probs, DIGITS, tmp_path / "d.png", labels=np.array([0, 10]))


# --- Confusion matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion(tmp_path: Path, normalize: bool) -> None:
    rng = np.random.default_rng(4)
    matrix = rng.integers(0, 20, size=(10, 10))
    matrix[np.arange(10), np.arange(10)] += 900
    out = draw_confusion(matrix, FASHION, tmp_path / "cm.png", normalize=normalize)
    _check_png(out)


def test_confusion_small_with_empty_row(tmp_path: Path) -> None:
    matrix = np.array([[5, 1, 0], [0, 0, 0], [2, 0, 7]])
    out = draw_confusion(matrix, ["a", "b", "c"], tmp_path / "cm3.png", normalize=True)
    _check_png(out)


def test_confusion_rejects_non_square(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        draw_confusion(np.ones((2, 3)), ["a", "b"], tmp_path / "bad.png")


# --- Saving --------------------------------------------------------------------------------------


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    probs, labels = predictions(4, 10, rng, wrong=1)
    written = [
        draw_structure(_layers(2), tmp_path / "fig1.png"),
        draw_training(_history(2, 50, rng), tmp_path / "fig2.png"),
        draw_inference(_images(4, rng), probs, DIGITS, tmp_path / "fig3.png", labels=labels),
        draw_confusion(np.eye(3, dtype=int) * 5, ["a", "b", "c"], tmp_path / "cm.png"),
    ]
    # Overwriting an existing figure goes through the same temporary-file route.
    written.append(draw_structure(_layers(1), tmp_path / "fig1.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cm.png",
        "fig1.png",
        "fig2.png",
        "fig3.png",
    ]
    for path in written:
        _check_png(path)


def test_save_failure_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "broken.png"
    target.parent.mkdir()
    target.write_bytes(b"old figure")
    with figure(2.0, 2.0) as fig:
        fig.text(0.5, 0.5, "x")

        def boom(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(fig, "savefig", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            save(fig, target)
    assert target.read_bytes() == b"old figure"  # the old file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["broken.png"]


def test_save_rejects_unknown_format(tmp_path: Path) -> None:
    with figure(2.0, 2.0) as fig, pytest.raises(ValueError, match="cannot save"):
        save(fig, tmp_path / "figure.xyz")
    assert not any(tmp_path.iterdir())


def test_truncate() -> None:
    assert truncate("T-shirt/top", 12) == "T-shirt/top"
    assert truncate("Ankle boot and more", 8) == "Ankle b…"
    assert len(truncate("abcdefghijklmnop", 5)) == 5


def test_figures_do_not_import_torch() -> None:
    import threefigures.figures as figures

    root = Path(figures.__file__).parent
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text, source.name
    assert "threefigures.figures" in sys.modules
