"""The article's CPU-vs-GPU comparison, measured: time per training step by device.

For the MLP, the CNN and the RNN, at batch sizes 64…1024, on every device present:
each CUDA GPU, Apple MPS, and the CPU with 1 thread and with all its threads (so a
machine without a GPU still shows something real: thread scaling on the CPU).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from threefigures.config import ModelConfig
from threefigures.models import create_model

MODELS = {
    "mlp": ModelConfig(name="mlp"),
    "cnn": ModelConfig(name="cnn", layers=(128,)),
    "rnn": ModelConfig(name="rnn"),
}


def available_devices() -> list[tuple[str, torch.device, int | None]]:
    """(label, device, CPU threads or None) for everything this machine can train on."""
    found: list[tuple[str, torch.device, int | None]] = []
    for i in range(torch.cuda.device_count()):
        found.append((f"cuda ({torch.cuda.get_device_name(i)})", torch.device("cuda", i), None))
    if torch.backends.mps.is_available():
        found.append(("mps", torch.device("mps"), None))
    cores = os.cpu_count() or 1
    found.append(("cpu (1 thread)", torch.device("cpu"), 1))
    if cores > 1:
        found.append((f"cpu ({cores} threads)", torch.device("cpu"), cores))
    return found


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_step(
    model_name: str, device: torch.device, batch_size: int, *, steps: int = 10, warmup: int = 3
) -> float:
    """Seconds per forward+backward+update step, median of ``steps`` timed steps."""
    torch.manual_seed(0)
    model = create_model(model_name, MODELS[model_name]).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(batch_size, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def measure_devices(
    *,
    batch_sizes: Sequence[int] = (64, 128, 256, 512, 1024),
    steps: int = 10,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Time every model × device × batch size, logging a table: the rows and a note on
    which devices there were."""
    say = log or (lambda _m: None)
    devices = available_devices()
    gpus = [label for label, dev, _t in devices if dev.type in ("cuda", "mps")]
    note = (
        f"accelerators: {', '.join(gpus)}"
        if gpus
        else "no GPU on this machine: comparing 1 CPU thread with all CPU threads"
    )
    rows: list[dict[str, Any]] = []
    previous = torch.get_num_threads()
    say(f"{'model':<5} {'device':<34} {'batch':>6} {'ms/step':>9} {'samples/s':>11}")
    try:
        for model_name in MODELS:
            for label, device, threads in devices:
                if threads is not None:
                    torch.set_num_threads(threads)
                for batch in batch_sizes:
                    seconds = time_step(model_name, device, batch, steps=steps)
                    row = {
                        "model": model_name,
                        "device": label,
                        "batch_size": int(batch),
                        "ms_per_step": 1000 * seconds,
                        "samples_per_s": batch / seconds,
                    }
                    rows.append(row)
                    say(
                        f"{model_name:<5} {label:<34} {batch:>6} {1000 * seconds:>9.2f} "
                        f"{batch / seconds:>11,.0f}"
                    )
    finally:
        torch.set_num_threads(previous)
    return rows, note
