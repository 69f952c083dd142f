"""The Figure 1 MLP on Fashion-MNIST, 5 epochs, batch 128, Adam 1e-3 — ours against baselines.

Variants, each run in its own subprocess (so "whole-process seconds" include imports
and data loading) and interleaved over repetitions:

  ours       threefigures.fit: in-memory uint8 tensors, one permutation per epoch,
             sliced batches, fused Adam
  dataloader the idiomatic PyTorch loop of the official MNIST example: torchvision
             dataset with per-sample ToTensor/Normalize and a DataLoader
  inmemory   a plain in-memory loop over a randperm (no threefigures code)
  sklearn    MLPClassifier(hidden_layer_sizes=(256,), batch_size=128, max_iter=5)

Prints medians and spreads, and the ratios against ours. Nothing is asserted:
the numbers are for reading (and for the README's performance section).

    python benchmarks/bench_mlp.py [--reps 3] [--threads 1,2] [--variants ours,sklearn]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

T0 = time.perf_counter()
EPOCHS, BATCH, LR = 5, 128, 1e-3
SEED = 0  # set per repetition: every variant gets the same seed in a repetition


def _fashion_arrays():
    from threefigures.data import load_dataset

    return load_dataset("fashion-mnist")


def run_ours(precision: str) -> dict[str, float]:
    import torch

    from threefigures.config import TrainConfig
    from threefigures.models import create_model
    from threefigures.runner import model_config_for
    from threefigures.training import fit

    data = _fashion_arrays()
    torch.manual_seed(SEED)
    model = create_model("mlp", model_config_for(data))
    cfg = TrainConfig(
        epochs=EPOCHS,
        batch_size=BATCH,
        lr=LR,
        schedule="constant",
        device="cpu",
        precision=precision,
        seed=SEED,
    )
    result = fit(model, data, cfg, val_fraction=0.0)
    assert result.test is not None
    return {
        "train_s": result.train_seconds,
        "acc": result.test.accuracy,
        "epoch_s": min(result.history.epoch_seconds),
    }


def _model():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def run_dataloader() -> dict[str, float]:
    """As pytorch/examples mnist/main.py does it: per-sample transforms in a DataLoader."""
    import torch
    import torch.nn.functional as F
    from torchvision import datasets, transforms

    from threefigures.data import load_dataset
    from threefigures.data.sources import fashion_dir, torchvision_root

    load_dataset("fashion-mnist", cache=False)  # stages the IDX files where torchvision looks
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    root = str(torchvision_root(fashion_dir()))
    train = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    torch.manual_seed(SEED)
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for _epoch in range(EPOCHS):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in test_loader:
            correct += int((model(xb).argmax(1) == yb).sum())
    return {"train_s": train_s, "acc": correct / len(test)}


def run_inmemory() -> dict[str, float]:
    """The plain loop a PyTorch user would write with the data already in memory."""
    import torch
    import torch.nn.functional as F

    data = _fashion_arrays()
    x = (data.train_x.float() / 255 - 0.2860) / 0.3530
    xt = (data.test_x.float() / 255 - 0.2860) / 0.3530
    y = data.train_y
    torch.manual_seed(SEED)
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for _epoch in range(EPOCHS):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    train_s = time.perf_counter() - start
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == data.test_y).float().mean())
    return {"train_s": train_s, "acc": acc}


def run_sklearn() -> dict[str, float]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = _fashion_arrays()
    x = data.train_x.reshape(len(data.train_x), -1).numpy().astype("float32") / 255
    xt = data.test_x.reshape(len(data.test_x), -1).numpy().astype("float32") / 255
    clf = MLPClassifier(
        hidden_layer_sizes=(256,), batch_size=BATCH, max_iter=EPOCHS, random_state=SEED
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, data.train_y.numpy())
    train_s = time.perf_counter() - start
    return {"train_s": train_s, "acc": float(clf.score(xt, data.test_y.numpy()))}


RUNNERS = {
    "ours": lambda: run_ours("fp32"),
    "ours-bf16": lambda: run_ours("bf16"),
    "dataloader": run_dataloader,
    "inmemory": run_inmemory,
    "sklearn": run_sklearn,
}


def child(variant: str, threads: int, seed: int) -> None:
    import torch

    global SEED
    SEED = seed
    torch.set_num_threads(threads)
    out = RUNNERS[variant]()
    out["process_s"] = time.perf_counter() - T0
    print(json.dumps(out))


def spawn(variant: str, threads: int, seed: int) -> dict[str, float]:
    env = dict(os.environ)
    # numpy/scikit-learn's BLAS and torch both get the same thread budget
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--threads",
            str(threads),
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def _fmt(values: list[float], pct: bool = False) -> str:
    med = statistics.median(values)
    spread = (max(values) - min(values)) / 2 if len(values) > 1 else 0.0
    if pct:
        return f"{100 * med:5.2f}% ±{100 * spread:.2f}"
    return f"{med:7.2f} ±{spread:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--variants", default="ours,inmemory,sklearn,dataloader")
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.threads), args.seed)
        return
    variants = args.variants.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    _fashion_arrays()  # warm the cache once so every variant starts equal
    print(f"Figure 1 MLP on fashion-mnist: {EPOCHS} epochs, batch {BATCH}, Adam {LR}")
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    print(f"reps {args.reps}")
    for threads in thread_counts:
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for rep in range(args.reps):  # interleaved: a slow spell hits every variant
            for variant in variants:
                results[variant].append(spawn(variant, threads, seed=rep))
        print(f"\n== {threads} thread(s): median ± half-range over {args.reps} runs")
        print(
            f"{'variant':<12} {'train s':>15} {'process s':>15} {'test acc':>15}"
            f" {'ours faster ×':>14}"
        )
        ours_train = statistics.median(
            r["train_s"] for r in results.get("ours", results[variants[0]])
        )
        for variant in variants:
            rs = results[variant]
            train = [r["train_s"] for r in rs]
            ratio = statistics.median(train) / ours_train
            print(
                f"{variant:<12} {_fmt(train):>15} {_fmt([r['process_s'] for r in rs]):>15} "
                f"{_fmt([r['acc'] for r in rs], pct=True):>15} {ratio:>13.1f}×"
            )
        if "ours" in results and "epoch_s" in results["ours"][0]:
            best = min(r["epoch_s"] for r in results["ours"])
            print(f"ours: best epoch {best:.3f} s")


if __name__ == "__main__":
    main()
