"""Claim: GPUs (parallel hardware) make training much faster.

Where a CUDA GPU exists: time per epoch of the MLP and the CNN on the CPU and on the GPU.
Where none exists (this project's development machine): the claim itself cannot be tested, and
the experiment says so plainly; what it can test is the principle behind it — more parallel
hardware, fewer seconds — as the CPU's thread scaling, 1 thread against all the cores torch
sees. Times are the median epoch of each run (the first epoch, which pays one-off warm-up,
is left out when there are several).

Comparisons (positive = for the claim): for each model, the faster configuration's epoch
seconds (GPU, or all threads) against the CPU / 1-thread ones (lower is better), counting
only a speed-up of at least 10%.
"""

from __future__ import annotations

import statistics

import torch

from threefigures.config import ModelConfig, TrainConfig
from threefigures.experiments.core import Context, Outcome, register, subset
from threefigures.experiments.verdict import compare, decide

MODELS = {
    "MLP 784-256-10": ModelConfig(),
    "CNN 16-32, fc128": ModelConfig(name="cnn", layers=(128,)),
}


def _epoch_seconds(history_seconds: list[float]) -> float:
    tail = history_seconds[1:] if len(history_seconds) > 1 else history_seconds
    return statistics.median(tail)


@register("devices", "time per epoch: CPU vs GPU, or CPU thread scaling when no GPU exists")
def devices(ctx: Context) -> Outcome:
    from threefigures.figures.claims import draw_grouped_bars

    data = ctx.dataset(ctx.data or "digits")
    if ctx.quick:
        data = subset(data, 800, 0)
    epochs = 2 if ctx.quick else 3
    gpu = torch.cuda.is_available()
    threads_all = torch.get_num_threads()
    if gpu:
        configs = [
            ("CPU", "cpu", threads_all),
            ("GPU " + torch.cuda.get_device_name(0), "cuda", threads_all),
        ]
    else:
        configs = [("CPU, 1 thread", "cpu", 1), (f"CPU, {threads_all} threads", "cpu", threads_all)]
    seconds: dict[str, dict[str, list[float]]] = {m: {c[0]: [] for c in configs} for m in MODELS}
    try:
        for seed in ctx.seeds:
            for model_name, model_cfg in MODELS.items():
                for label, device, threads in configs:
                    torch.set_num_threads(threads)
                    _m, result = ctx.train(
                        data,
                        model_cfg,
                        TrainConfig(epochs=epochs, seed=seed, device=device, batch_size=64),
                        label=f"{model_name} on {label}",
                    )
                    seconds[model_name][label].append(
                        _epoch_seconds(list(result.history.epoch_seconds))
                    )
    finally:
        torch.set_num_threads(threads_all)
    slow, fast = configs[0][0], configs[1][0]
    comparisons = [
        compare(
            f"{model_name}: {fast} vs {slow} epoch seconds",
            [s / statistics.fmean(seconds[model_name][slow]) for s in seconds[model_name][fast]],
            [s / statistics.fmean(seconds[model_name][slow]) for s in seconds[model_name][slow]],
            higher_is_better=False,
            min_effect=0.1,
        )
        for model_name in MODELS
    ]
    verdict = decide(comparisons)
    groups = [
        (
            model_name,
            [
                (label, statistics.fmean(v), statistics.pstdev(v) if len(v) > 1 else None)
                for label, v in seconds[model_name].items()
            ],
        )
        for model_name in MODELS
    ]
    what = "CPU vs GPU" if gpu else "no GPU here: CPU thread scaling"
    figure = draw_grouped_bars(
        groups,
        ctx.out_dir / "devices.png",
        ylabel="seconds per epoch",
        title=f"Time per epoch — {what}",
        subtitle=f"{data.name}, {len(data.train_y):,} training images, batch 64 · "
        f"mean over {len(ctx.seeds)} seed(s)",
        percent=False,
    )
    header = ("Model", *[c[0] for c in configs], "speed-up")
    rows = []
    for model_name in MODELS:
        a = statistics.fmean(seconds[model_name][slow])
        b = statistics.fmean(seconds[model_name][fast])
        rows.append((model_name, f"{a:.2f} s", f"{b:.2f} s", f"{a / b:.2f}×"))
    notes = (
        [f"GPU: {torch.cuda.get_device_name(0)}."]
        if gpu
        else [
            "No GPU was present on this machine: the claim that GPUs speed up training was "
            f"NOT tested here. The verdict is about CPU thread scaling (1 vs {threads_all} "
            "threads), the same principle on the hardware available."
        ]
    )
    return Outcome(
        claim="GPUs accelerate deep-learning training (parallel hardware, fewer seconds).",
        question="Does more parallel hardware cut the time per epoch?"
        + ("" if gpu else " (No GPU here: 1 vs all CPU threads.)"),
        header=header,
        rows=rows,
        figure=figure,
        verdict=verdict,
        comparisons=comparisons,
        notes=notes,
        numbers={"gpu": gpu, "threads": threads_all, "epoch_seconds": seconds},
    )
