"""Claim: GPUs accelerate deep-learning training.

Time per training epoch of the Figure 1 MLP and the CNN on the digits, at batch 32 (the
project's default) and 256, on every device :mod:`threefigures.training.bench` finds: the
first CUDA GPU (or Apple MPS) if there is one, and the CPU with 1 thread and with all its
threads. Each configuration is trained through ``Context.train`` (so every run is stored)
for a few epochs without a validation split; its time is the median of its epochs after the
first (which pays one-off warm-up: allocations, kernel selection), as ``fit`` measures
them (``History.epoch_seconds``, synchronised with the device at each epoch's end); the
figure of a configuration is the median over seeds.

Verdict (positive effect = for the claim; each comparison is on log epoch seconds, lower is
better, so the effect is the log of the speed-up; only a speed-up of at least 10% counts):

- **with a GPU**: for each model and batch size, the GPU vs the CPU with all its threads;
- **without one** (this project's development machine): the claim itself cannot be tested,
  and the experiment says so in its question, its notes, its comparisons and its verdict.
  What it does test is the principle behind the claim — more parallel hardware trains
  faster — as the CPU's thread scaling: all threads vs 1 thread, for each model and batch
  size.

Timings measure the machine as it was while the experiment ran: the load average before
and after is recorded, and a machine busy with other work gives slower, noisier times.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics

import torch

from threefigures.config import TrainConfig
from threefigures.experiments.core import Context, Outcome, conclude, register
from threefigures.experiments.verdict import Comparison, Verdict, compare, decide
from threefigures.training.bench import MODELS as BENCH_MODELS
from threefigures.training.bench import available_devices

NAME = "devices"
MODELS = {"MLP 784-256-10": BENCH_MODELS["mlp"], "CNN 16-32, dense 128": BENCH_MODELS["cnn"]}
FULL_BATCHES, QUICK_BATCHES = (32, 256), (64,)
FULL_EPOCHS, QUICK_EPOCHS = 3, 2
QUICK_SIZE = 500
MAX_TRAIN = 10_000
#: A speed-up below 10% does not count (in log units, as the comparisons are).
MIN_SPEEDUP = math.log(1.1)


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to train: a label for tables, the device name ``fit`` takes, CPU threads."""

    label: str
    device: str
    threads: int | None  # None: leave torch's thread count as it is (accelerators)
    accelerator: bool


def targets() -> list[Target]:
    """The devices to time, from :func:`threefigures.training.bench.available_devices`: the
    first GPU (CUDA, else MPS) if any, the CPU with 1 thread, and the CPU with all its threads (2
    threads on a single-core machine, so there is always a scaling to measure)."""
    found: list[Target] = []
    for label, device, threads in available_devices():
        if device.type in ("cuda", "mps"):
            if not any(t.accelerator for t in found):  # the first accelerator only
                found.append(Target(label, device.type, None, True))
        else:
            assert threads is not None
            found.append(
                Target(f"CPU, {threads} thread{'s' * (threads > 1)}", "cpu", threads, False)
            )
    if not any(t.threads and t.threads > 1 for t in found):
        found.append(Target("CPU, 2 threads (1 core)", "cpu", 2, False))
    return found


def epoch_time(epoch_seconds: list[float]) -> float:
    """A run's time per epoch: the median of its epochs after the first (the first pays
    warm-up); the only epoch if there is just one."""
    if not epoch_seconds:
        raise ValueError("no epochs were timed")
    tail = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return statistics.median(tail)


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@register(NAME, "time per epoch: GPU vs CPU, or CPU thread scaling where no GPU exists")
def devices(ctx: Context) -> Outcome:
    from threefigures.figures.claims_more import draw_ratio_bars

    data = ctx.image_data(QUICK_SIZE, MAX_TRAIN)
    epochs = QUICK_EPOCHS if ctx.quick else FULL_EPOCHS
    batches = QUICK_BATCHES if ctx.quick else FULL_BATCHES
    where = targets()
    accel = next((t for t in where if t.accelerator), None)
    cpu_one = next(t for t in where if t.threads == 1)
    cpu_all = max((t for t in where if not t.accelerator), key=lambda t: t.threads or 0)
    cores = os.cpu_count() or 1

    # [model][batch][target label] → seconds per epoch, one per seed
    seconds: dict[str, dict[int, dict[str, list[float]]]] = {
        m: {b: {t.label: [] for t in where} for b in batches} for m in MODELS
    }
    load_before = _load()
    previous = torch.get_num_threads()
    try:
        for seed in ctx.seeds:
            for model_name, model_cfg in MODELS.items():
                for batch in batches:
                    for target in where:  # back to back, so drifting load hits all alike
                        if target.threads is not None:
                            torch.set_num_threads(target.threads)
                        else:
                            torch.set_num_threads(previous)
                        _model, result = ctx.train(
                            data,
                            model_cfg,
                            TrainConfig(
                                epochs=epochs, batch_size=batch, seed=seed, device=target.device
                            ),
                            label=f"{model_name}, batch {batch}, {target.label}",
                            val_fraction=0.0,
                        )
                        seconds[model_name][batch][target.label].append(
                            epoch_time(list(result.history.epoch_seconds))
                        )
    finally:
        torch.set_num_threads(previous)
    load_after = _load()

    fast, slow = (accel, cpu_all) if accel is not None else (cpu_all, cpu_one)
    context = "" if accel is not None else " [no GPU here: CPU thread scaling, not the GPU claim]"
    comparisons: list[Comparison] = []
    for model_name in MODELS:
        for batch in batches:
            runs = seconds[model_name][batch]
            comparisons.append(
                compare(
                    f"{model_name}, batch {batch}: {fast.label} vs {slow.label}, log seconds "
                    f"per epoch{context}",
                    [math.log(s) for s in runs[fast.label]],
                    [math.log(s) for s in runs[slow.label]],
                    higher_is_better=False,
                    min_effect=MIN_SPEEDUP,
                )
            )
    verdict = decide(comparisons)
    if accel is None:
        verdict = Verdict(
            verdict.label,
            verdict.supports,
            verdict.contradicts,
            verdict.unclear,
            "No GPU was present, so the claim that GPUs accelerate training was not tested; "
            f"this verdict is on CPU thread scaling ({cpu_all.threads} threads vs 1), the same "
            f"principle on the hardware there was: {verdict.summary}",
        )

    def median(values: list[float]) -> float:
        return statistics.median(values)

    groups = []
    for model_name in MODELS:
        for batch in batches:
            runs = seconds[model_name][batch]
            bars: list[tuple[str, float, float | None]] = []
            for t in where:
                ratios = [b / a for a, b in zip(runs[t.label], runs[cpu_one.label], strict=True)]
                spread = statistics.stdev(ratios) if len(ratios) > 1 else None
                bars.append((t.label, median(ratios), spread))
            groups.append((f"{model_name.split()[0]}, batch {batch}", bars))
    what = (
        f"GPU ({accel.label}) vs CPU"
        if accel is not None
        else "no GPU here — CPU thread scaling only"
    )
    figure = draw_ratio_bars(
        groups,
        ctx.figure_path,
        ylabel="speed-up over 1 CPU thread (×)",
        title=f"Training speed by device: {what}",
        subtitle=f"{data.name}, {len(data.train_y):,} training images, {epochs} epochs per run "
        f"(first left out) · median over {len(ctx.seeds)} seed(s)",
    )

    header = (
        "Model",
        "batch",
        *[f"{t.label}: ms per epoch" for t in where],
        f"speed-up, {fast.label} vs {slow.label}",
    )
    rows = []
    for model_name in MODELS:
        for batch in batches:
            runs = seconds[model_name][batch]
            rows.append(
                (
                    model_name,
                    batch,
                    *[f"{1000 * median(runs[t.label]):.0f}" for t in where],
                    f"{median(runs[slow.label]) / median(runs[fast.label]):.2f}×",
                )
            )
    loads = ", ".join(f"{v:.1f}" for v in (load_before, load_after) if v is not None) or "unknown"
    if accel is None:
        notes = [
            "No GPU was present on this machine (torch.cuda.is_available() is False, no MPS): "
            "the article's claim that GPUs accelerate training was NOT tested here. The "
            f"verdict is about CPU thread scaling ({cpu_all.threads} threads vs 1) — more "
            "parallel hardware, the principle behind the claim — and says nothing about GPUs.",
        ]
    else:
        notes = [f"GPU: {accel.label}; compared with the CPU's {cpu_all.threads} threads."]
    busiest = max((v for v in (load_before, load_after) if v is not None), default=0.0)
    if busiest > cores:
        notes.append(
            f"The machine was busy while timing (load average {busiest:.1f} on {cores} "
            "core(s)): threads competed with other processes for the cores, so these times — "
            "above all the multi-threaded ones — say more about the load than the hardware."
        )
    notes += [
        f"Load average before / after timing: {loads} on {cores} core(s); other work on the "
        "machine slows the runs and adds noise (more so with more threads).",
        "Times are per epoch of training only (no validation split), the median of each "
        "run's epochs after the first, then the median over seeds.",
    ]
    return conclude(
        claim="GPUs accelerate deep-learning training.",
        question=(
            "Is an epoch faster on the GPU than on the CPU?"
            if accel is not None
            else "No GPU here, so the GPU claim cannot be tested. Does more parallel hardware "
            f"— {cpu_all.threads} CPU threads instead of 1 — at least make an epoch faster?"
        ),
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        verdict=verdict,
        notes=notes,
        numbers={
            "gpu": accel.label if accel is not None else None,
            "gpu_tested": accel is not None,
            "cpu_cores": cores,
            "load_average": {"before": load_before, "after": load_after},
            "epochs": epochs,
            "seconds_per_epoch": {
                m: {str(b): v for b, v in per.items()} for m, per in seconds.items()
            },
        },
    )
