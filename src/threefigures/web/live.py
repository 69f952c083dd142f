"""A run trained for the web page, in a process of its own, reporting as it goes.

    python -m threefigures.web.live RUN_ID --store PATH [--weights-every S] [--threads N]

trains a run that :func:`threefigures.runner.open_run` opened (or one that was interrupted)
exactly as ``threefigures train`` would, and writes one JSON object per line to its
standard output: ``{"event": NAME, "data": {...}}`` with NAME ``batch``, ``epoch``,
``weights``, ``end`` or ``error`` (the server relays them as server-sent events, see
:mod:`threefigures.web.training`). SIGINT is Ctrl-C: the run stops at the next step, keeps
its last finished epoch and is marked interrupted.

Batch events come at most ``1 / BATCH_INTERVAL`` times a second, each with every batch
loss since the previous one (the loss tensor is read only then: one sync, not one per
step). Every ``--weights-every`` seconds, and at each epoch's end, the first layer's
weights are sent as a PNG and saved to ``live.safetensors`` in the run's folder, so the
draw pad can ask the network as it is now, mid-epoch. Nothing here imports FastAPI.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

#: Set by SIGINT (the server's Stop) whenever fit's own Ctrl-C handling is not installed:
#: while the data loads, between epochs' bookkeeping; the monitor passes it on to fit.
_STOP_ASKED = [False]


def _ask_stop(_signum: int, _frame: Any) -> None:
    _STOP_ASKED[0] = True


if __name__ == "__main__":  # the child: a Stop may come while torch is still importing
    signal.signal(signal.SIGINT, _ask_stop)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from threefigures.errors import ThreeFiguresError  # noqa: E402
from threefigures.runs.folder import LIVE_WEIGHTS_FILE  # noqa: E402
from threefigures.training import History, TrainingMonitor  # noqa: E402

#: Seconds between batch events: at most 20 a second.
BATCH_INTERVAL = 0.05
#: First-layer units drawn at most (an 8 × 8 grid of 28 × 28 tiles).
MAX_TILES = 64

Emit = Callable[[str, dict[str, Any]], None]


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a value is sent as null."""
    return value if value is not None and math.isfinite(value) else None


def _png_data_url(gray: np.ndarray) -> str:
    """A (H, W) array of values in [0, 1] as a grey PNG data URL."""
    from PIL import Image

    pixels = np.clip(np.round(gray * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _tile(maps: np.ndarray, scale: int) -> np.ndarray:
    """(N, h, w) maps, each scaled to [0, 1] around its own zero (grey = 0, white =
    positive), in a near-square grid with a one-pixel gap, each pixel ``scale``× larger."""
    n, h, w = maps.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1), 0.0)
    for i, unit in enumerate(maps):
        peak = float(np.abs(unit).max()) or 1.0
        r, c = divmod(i, cols)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = (
            0.5 + 0.5 * unit / peak
        )
    return np.kron(grid, np.ones((scale, scale)))


def first_layer_picture(model: nn.Module) -> tuple[str, str] | None:
    """The first layer's weights as (PNG data URL, caption): an MLP's or perceptron's units
    as images, a CNN's first filters, an RNN's input weights as a matrix; None if the
    model has none of these."""
    from threefigures.models import Network

    if not isinstance(model, Network):
        return None
    with torch.no_grad():
        units = model.pixel_units()
        c, h, w = model.config.input_shape
        if units is not None and units.in_features == c * h * w:
            weights = units.weight.detach().float().cpu().numpy()  # (units, C*H*W)
            shown = weights[:MAX_TILES].reshape(-1, c, h, w)[:, 0]  # (N, H, W)
            caption = (
                f"first layer: {len(shown)} of {units.out_features} units' weights "
                f"as {h}×{w} images"
            )
            return _png_data_url(_tile(shown, 2)), caption
        convs = list(model.conv_layers().values())
        if convs:
            filters = convs[0].weight.detach().float().cpu().numpy()  # (out, in, k, k)
            shown = filters[:MAX_TILES, 0]  # (N, k, k): each filter's first input channel
            k = shown.shape[-1]
            caption = f"first convolution: {len(shown)} filters of {k}×{k}"
            return _png_data_url(_tile(shown, max(2, 48 // k))), caption
        rnn = model.recurrent_layer()
        if rnn is not None:
            weight = rnn.get_parameter("weight_ih_l0")  # (gates*H, F)
            matrix = weight.detach().float().cpu().numpy()
            peak = float(np.abs(matrix).max()) or 1.0
            rows, cols = matrix.shape
            caption = f"input weights of the {type(rnn).__name__}: {rows}×{cols}"
            return _png_data_url(0.5 + 0.5 * matrix.T / peak), caption
    return None


class LiveMonitor(TrainingMonitor):
    """Turns ``fit``'s progress into throttled events (see the module docstring).

    Batch losses wait in a buffer (with their positions on Figure 2's epoch axis) until
    ``batch_interval`` has passed since the last batch event, also across an epoch's end,
    so there are never more than 1 / ``batch_interval`` batch events a second however short
    the epochs; :meth:`flush` sends what is left when training ends.
    """

    def __init__(
        self,
        emit: Emit,
        *,
        run_dir: Path,
        epochs: int,
        batch_size: int,
        weights_every: float = 2.0,
        batch_interval: float = BATCH_INTERVAL,
    ) -> None:
        self.emit = emit
        self.run_dir = run_dir
        self.epochs = epochs
        self.batch_size = batch_size
        self.weights_every = weights_every
        self.batch_interval = batch_interval
        self.stop = False
        self._read = 0  # this epoch's batch losses already read into the buffer
        self._positions: list[float] = []
        self._losses: list[float] = []
        self._where = (0, 0, 0)  # (epoch, steps done in it, steps per epoch) of the last step
        self._last_batch = self._last_weights = self._started = time.monotonic()
        self._steps_timed = 0
        self._first_weights = True

    def stop_requested(self) -> bool:
        return self.stop or _STOP_ASKED[0]

    def _buffer(self, epoch: int, steps: int, values: list[float]) -> None:
        first = self._read
        self._positions += [epoch - 1 + (first + i + 1) / steps for i in range(len(values))]
        self._losses += values
        self._read += len(values)

    def batch(
        self, model: nn.Module, epoch: int, step: int, steps: int, losses: torch.Tensor
    ) -> None:
        self._where = (epoch, step + 1, steps)
        self._steps_timed += 1
        now = time.monotonic()
        if self._first_weights:  # the weights as they start: noise
            self._first_weights = False
            self.weights(model, epoch, step + 1)
        if now - self._last_batch >= self.batch_interval:
            # the only read of the loss tensor: one sync per event, not one per step
            self._buffer(epoch, steps, losses[self._read : step + 1].tolist())
            self.flush()
        if now - self._last_weights >= self.weights_every:
            self.weights(model, epoch, step + 1)

    def flush(self) -> None:
        """Send the buffered batch losses as one ``batch`` event (if there are any)."""
        if not self._losses:
            return
        epoch, done, steps = self._where
        now = time.monotonic()
        elapsed = now - self._last_batch
        per_step = (now - self._started) / max(self._steps_timed, 1)
        left = (self.epochs - epoch) * steps + (steps - done)
        self.emit(
            "batch",
            {
                "epoch": epoch,
                "step": done,
                "steps": steps,
                "positions": [round(p, 6) for p in self._positions],
                "losses": [round(v, 6) if math.isfinite(v) else None for v in self._losses],
                "examples_per_second": round(len(self._losses) * self.batch_size / elapsed, 1)
                if elapsed > 0
                else None,
                "seconds_left": round(per_step * left, 1),
            },
        )
        self._positions, self._losses = [], []
        # counted from the end of this event: a slow emit (a busy machine, a slow pipe) must
        # not let the next event follow sooner than the interval (fresh-check saw 0.04 s)
        self._last_batch = time.monotonic()

    def epoch(self, model: nn.Module, history: History, epoch: int) -> None:
        _epoch, _done, steps = self._where
        if self._read < steps:  # the epoch's last losses, from the history (no extra sync)
            self._buffer(
                epoch, steps, history.batch_loss[len(history.batch_loss) - (steps - self._read) :]
            )
        self._read = 0
        if time.monotonic() - self._last_batch >= self.batch_interval:
            self.flush()
        i = history.epoch.index(epoch)
        self.emit(
            "epoch",
            {
                "epoch": epoch,
                "epochs": self.epochs,
                "train_loss": _finite(history.epoch_loss[i]),
                "val_loss": _finite(history.val_loss[i]),
                "val_accuracy": _finite(history.val_accuracy[i]),
                "seconds": round(history.epoch_seconds[i], 3),
            },
        )
        if epoch == self.epochs:  # the weights as training leaves them
            self.flush()
            self.weights(model, epoch, steps)

    def weights(self, model: nn.Module, epoch: int, step: int) -> None:
        """Send the first layer's picture and save the network as it is now."""
        from threefigures.runs.checkpoint import save_weights

        self._last_weights = time.monotonic()
        save_weights(model, self.run_dir / LIVE_WEIGHTS_FILE)
        picture = first_layer_picture(model)
        if picture is not None:
            image, caption = picture
            self.emit("weights", {"epoch": epoch, "step": step, "image": image, "caption": caption})


def _writer(out: TextIO) -> Emit:
    def emit(event: str, data: dict[str, Any]) -> None:
        out.write(json.dumps({"event": event, "data": data}, allow_nan=False) + "\n")
        out.flush()

    return emit


def train_live(run_id: str, store_path: Path, emit: Emit, *, weights_every: float = 2.0) -> int:
    """Train (or go on training) ``run_id`` reporting through ``emit``; ends with one
    ``end`` or ``error`` event. Returns the process's exit status."""
    from threefigures.runner import resume_run
    from threefigures.runs.folder import read_run_config
    from threefigures.runs.store import Store

    store = Store(store_path)
    record = store.get(run_id)
    monitor: LiveMonitor | None = None
    try:
        config, _classes = read_run_config(record.run_dir)
        monitor = LiveMonitor(
            emit,
            run_dir=record.run_dir,
            epochs=config.train.epochs,
            batch_size=config.train.batch_size,
            weights_every=weights_every,
        )
        outcome = resume_run(run_id, store=store, monitor=monitor)
        monitor.flush()
        emit(
            "end",
            {
                "run": run_id,
                "status": "finished",
                "epochs_done": outcome.run.epochs_done,
                "test_accuracy": outcome.test.accuracy,
                "message": f"finished: test accuracy {100 * outcome.test.accuracy:.2f}% "
                f"on {len(outcome.test.labels):,} held-out examples",
            },
        )
        return 0
    except BaseException as exc:
        if monitor is not None:
            monitor.flush()
        record = store.get(run_id)
        from threefigures.runs.lifecycle import RunInterrupted

        if isinstance(exc, RunInterrupted):
            emit(
                "end",
                {
                    "run": run_id,
                    "status": "interrupted",
                    "epochs_done": record.epochs_done,
                    "test_accuracy": None,
                    "message": f"stopped: run {run_id} saved after {record.epochs_done} "
                    "finished epoch(s); Resume continues it",
                },
            )
            return 0
        if not isinstance(exc, ThreeFiguresError):
            traceback.print_exc()  # the whole story in train.log; the page gets one line
        detail = str(exc) if isinstance(exc, ThreeFiguresError) else f"{type(exc).__name__}: {exc}"
        message = (detail.strip().splitlines() or [type(exc).__name__])[0]
        if record.status == "running":  # failed before training began (tracked marks the rest)
            store.set_status(run_id, "failed", error=message)
        # a resume that failed before it began leaves the run as it was (interrupted, its
        # saved epochs intact) and says why
        emit("error", {"run": run_id, "message": message})
        return 1
    finally:
        (record.run_dir / LIVE_WEIGHTS_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threefigures.web.live")
    parser.add_argument("run")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--weights-every", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _ask_stop)
    if args.nice and hasattr(os, "nice"):
        # training is background work: the drawings the server answers meanwhile come first
        os.nice(args.nice)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Events own the real standard output; anything else printed goes to standard error.
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return train_live(args.run, args.store, _writer(events), weights_every=args.weights_every)


if __name__ == "__main__":
    sys.exit(main())
