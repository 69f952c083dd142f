"""web/live.py in this process: the monitor's events against fit's own history, their rate,
the first layer's picture for every kind of model, and a stop request acting as Ctrl-C."""

from __future__ import annotations

import base64
import io
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from helpers import make_synthetic
from threefigures.config import ModelConfig, TrainConfig
from threefigures.models import create_model
from threefigures.runs.folder import LIVE_WEIGHTS_FILE
from threefigures.training import TrainingInterrupted, fit
from threefigures.web.live import LiveMonitor, first_layer_picture


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), name, data))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d for _t, n, d in self.events if n == name]


def _fit(tmp_path: Path, *, epochs: int, interval: float, monitor_cls=LiveMonitor, **train):
    data = make_synthetic(n_train=600, n_test=100)
    torch.manual_seed(0)
    model = create_model("mlp", ModelConfig(layers=(16,)))
    config = TrainConfig(epochs=epochs, batch_size=8, device="cpu", **train)
    emit = Recorder()
    monitor = monitor_cls(
        emit,
        run_dir=tmp_path,
        epochs=epochs,
        batch_size=8,
        weights_every=0.05,
        batch_interval=interval,
    )
    result = fit(model, data, config, monitor=monitor)
    monitor.flush()
    return result, emit, monitor


@pytest.mark.parametrize("interval", [0.0, 0.01, 10.0])
def test_batch_events_carry_every_loss_once_in_order(tmp_path: Path, interval: float) -> None:
    result, emit, _ = _fit(tmp_path, epochs=3, interval=interval)
    positions = [p for d in emit.named("batch") for p in d["positions"]]
    losses = [v for d in emit.named("batch") for v in d["losses"]]
    history = result.history
    assert positions == pytest.approx(history.batch_epoch, abs=1e-6)
    assert losses == pytest.approx(history.batch_loss, abs=1e-5)
    epochs = emit.named("epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [e["val_accuracy"] for e in epochs] == history.val_accuracy
    if interval == 10.0:  # nothing sent until the end: one event with everything
        assert len(emit.named("batch")) == 1


def test_batch_events_are_throttled_across_epochs(tmp_path: Path) -> None:
    """Epochs far shorter than the interval still give at most one event per interval."""
    _result, emit, _ = _fit(tmp_path, epochs=6, interval=0.05)
    times = [t for t, n, _d in emit.events if n == "batch"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # the final flush after training may come sooner; every other gap respects the interval
    assert all(g >= 0.05 - 1e-3 for g in gaps[:-1]), gaps
    last = emit.named("batch")[-1]
    assert last["epoch"] == 6 and last["step"] == last["steps"] and last["seconds_left"] == 0


def test_weights_events_and_live_snapshot(tmp_path: Path) -> None:
    _result, emit, _ = _fit(tmp_path, epochs=2, interval=0.01)
    pictures = emit.named("weights")
    assert len(pictures) >= 2  # the untrained noise first, the trained weights last
    assert pictures[0]["image"] != pictures[-1]["image"]
    assert "16 units" in pictures[0]["caption"]
    assert (tmp_path / LIVE_WEIGHTS_FILE).is_file()


def test_stop_request_is_ctrl_c(tmp_path: Path) -> None:
    class StopAfterFive(LiveMonitor):
        calls = 0

        def stop_requested(self) -> bool:
            StopAfterFive.calls += 1
            return StopAfterFive.calls > 5

    with pytest.raises(TrainingInterrupted) as info:
        _fit(tmp_path, epochs=3, interval=0.01, monitor_cls=StopAfterFive)
    assert info.value.epochs_done == 0


def _decode(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (ModelConfig(name="mlp", layers=(100,)), "64 of 100 units"),
        (ModelConfig(name="perceptron"), "10 of 10 units"),
        (ModelConfig(name="cnn", channels=(6, 8), layers=(16,)), "6 filters of 3×3"),
        (ModelConfig(name="rnn", hidden_size=8), "input weights of the LSTM: 32×28"),
    ],
)
def test_first_layer_picture_for_every_page_model(config: ModelConfig, words: str) -> None:
    model = create_model(config.name, config)
    picture = first_layer_picture(model)
    assert picture is not None
    url, caption = picture
    assert words in caption
    image = _decode(url)
    assert image.mode == "L" and min(image.size) >= 8
