"""What on-the-fly augmentation costs: a Figure 1 MLP epoch on Fashion-MNIST with and without.

One process, the data in memory as ``training.py`` holds it (float (N, 1, 28, 28) on the
CPU, one permutation per epoch, contiguous sliced batches of 128, fused Adam 1e-3). Each
repetition runs, interleaved so a slow spell hits every variant:

  plain      the training step alone
  fr+b       augment_batch(flip, rotate, brightness) on every batch, then the step
  all        augment_batch(flip, rotate, brightness, shift) on every batch, then the step
  all/ep     the same four ops, but applied to the whole permuted epoch up front, in
             chunks of 4096, written back into it (augment_in_chunks, as training.fit
             does); then plain sliced steps

and, separately, augment_batch alone over the same batches (no model) for each op set,
and for all four ops once more with torch's own F.affine_grid in place of the
broadcast grid that augment.py builds (the two grids are equal; the time is not).
Prints seconds per epoch (median ± half-range, and best) and the overhead against plain;
the issue's target is an overhead of at most 50%. Then the same through the library itself:
``training.fit`` for one epoch with and without ``augment=(flip, rotate, brightness,
shift)``, interleaved (its epoch seconds include the validation pass). Nothing is asserted.

    python benchmarks/bench_augment.py [--reps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

BATCH, LR, CHUNK = 128, 1e-3, 4096
ALL = ("flip", "rotate", "brightness", "shift")
#: name → (ops, chunk): chunk 0 augments each batch, > 0 the whole epoch up front in chunks
VARIANTS: dict[str, tuple[tuple[str, ...], int]] = {
    "plain": ((), 0),
    "fr+b": (("flip", "rotate", "brightness"), 0),
    "all": (ALL, 0),
    "all/ep": (ALL, CHUNK),
}


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) / 2 if len(values) > 1 else 0.0


def main() -> None:
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from threefigures.config import TrainConfig
    from threefigures.data import augment, load_dataset
    from threefigures.data.augment import AugmentConfig, augment_batch, augment_in_chunks
    from threefigures.models import create_model
    from threefigures.runner import model_config_for
    from threefigures.training import fit, to_float_images

    torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist")
    model_cfg = model_config_for(data)
    x_train = to_float_images(data.train_x)  # (N, 1, 28, 28) float in [0, 1]
    y_train = data.train_y
    n = x_train.shape[0]
    steps = (n + BATCH - 1) // BATCH

    def epoch(ops: tuple[str, ...], seed: int, *, chunk: int = 0, train: bool = True) -> float:
        """Seconds for one epoch's steps and augmentation (not the model build or the shuffle)."""
        torch.manual_seed(seed)
        model = create_model("mlp", model_cfg)
        # fused Adam, as training.make_optimizer builds it on the CPU
        opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
        cfg = AugmentConfig(ops=ops)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        perm = torch.randperm(n, generator=gen)
        x_epoch, y_epoch = x_train[perm], y_train[perm]  # a fresh copy: safe to overwrite
        start = time.perf_counter()
        if ops and chunk:  # what training.fit does
            augment_in_chunks(x_epoch, cfg, chunk=chunk, out=x_epoch, generator=gen)
        for step in range(steps):
            lo = step * BATCH
            xb = x_epoch[lo : lo + BATCH]
            yb = y_epoch[lo : lo + BATCH]
            if ops and not chunk:
                xb = augment_batch(xb, cfg, gen)
            if not train:
                continue
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loss.item()  # as training.py does on the CPU (its divergence check)
            opt.step()
        return time.perf_counter() - start

    print(f"Figure 1 MLP on fashion-mnist: {n} images, {steps} steps of batch {BATCH}, Adam {LR}")
    print(
        f"machine: {os.cpu_count()} cores; torch {torch.__version__} on cpu, "
        f"{torch.get_num_threads()} thread(s); python {sys.version.split()[0]}; reps {args.reps}"
    )
    epoch((), 99)  # warm-up: first-call allocations and kernels
    epoch(ALL, 99, train=False)

    train_s: dict[str, list[float]] = {v: [] for v in VARIANTS}
    alone_s: dict[str, list[float]] = {v: [] for v, (ops, chunk) in VARIANTS.items() if ops}
    torch_grid_s: list[float] = []
    ours_grid = augment.affine_grid

    def torch_grid(theta: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return F.affine_grid(theta, list(size), align_corners=False)

    for rep in range(args.reps):
        for name, (ops, chunk) in VARIANTS.items():
            train_s[name].append(epoch(ops, rep, chunk=chunk))
        for name in alone_s:
            ops, chunk = VARIANTS[name]
            alone_s[name].append(epoch(ops, rep, chunk=chunk, train=False))
        augment.affine_grid = torch_grid  # warp() looks it up at call time
        try:
            torch_grid_s.append(epoch(ALL, rep, train=False))
        finally:
            augment.affine_grid = ours_grid

    base, base_best = _med(train_s["plain"]), min(train_s["plain"])
    print(
        f"\nseconds per epoch over {args.reps} interleaved repetitions: median ± half-range, best"
    )
    print(
        f"{'variant':<7} {'ops':<29} {'epoch s':>14} {'overhead':>8} {'best s':>7} {'overhead':>8}"
        f" {'augment alone s':>16}"
    )
    for name, (ops, _chunk) in VARIANTS.items():
        vals = train_s[name]
        alone = f"{_med(alone_s[name]):6.3f} ±{_spread(alone_s[name]):5.3f}" if ops else ""
        print(
            f"{name:<7} {','.join(ops) or '-':<29} {_med(vals):6.3f} ±{_spread(vals):6.3f} "
            f"{100 * (_med(vals) - base) / base:7.1f}% {min(vals):7.3f} "
            f"{100 * (min(vals) - base_best) / base_best:7.1f}% {alone:>16}"
        )
    for name in ("all", "all/ep"):
        over = 100 * (_med(train_s[name]) - base) / base
        verdict = "within" if over <= 50 else "OVER"
        print(f"{name}: {over:.1f}% median overhead per epoch — {verdict} the ≤ 50% target")
    if any(_spread(v) > 0.2 * _med(v) for v in train_s.values()):
        print(
            "(noisy: repetitions differ by over 20% — other load on the machine? "
            "the best column is the steadier one)"
        )
    fit_seconds: dict[str, list[float]] = {"plain": [], "augmented": []}
    for rep in range(args.reps):
        for name, ops in (("plain", ()), ("augmented", ALL)):
            config = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=rep, augment=ops)
            torch.manual_seed(rep)
            model = create_model("mlp", model_cfg)
            result = fit(model, data, config, evaluate_test=False)
            fit_seconds[name].append(result.history.epoch_seconds[-1])
    plain_fit, aug_fit = _med(fit_seconds["plain"]), _med(fit_seconds["augmented"])
    over = 100 * (aug_fit - plain_fit) / plain_fit
    print(
        f"training.fit, one epoch: plain {plain_fit:.3f} ±{_spread(fit_seconds['plain']):.3f} s, "
        f"augmented (all four) {aug_fit:.3f} ±{_spread(fit_seconds['augmented']):.3f} s: "
        f"{over:.1f}% overhead — {'within' if over <= 50 else 'OVER'} the ≤ 50% target"
    )
    per_batch_us = 1e6 * _med(alone_s["all"]) / steps
    torch_us = 1e6 * _med(torch_grid_s) / steps
    print(
        f"augment_batch alone, all four ops: {per_batch_us:.0f} µs per batch of {BATCH}; "
        f"with F.affine_grid instead: {torch_us:.0f} µs"
    )


if __name__ == "__main__":
    main()
