"""CNN time to accuracy on Fashion-MNIST: ours against the official PyTorch MNIST example.

  ours     threefigures' CNN (conv16-conv32 with batch norm and early pooling, fc128),
           in-memory sliced batches, fused Adam, one-cycle schedule — via threefigures.fit
  example  the CNN of pytorch/examples mnist/main.py (conv32-conv64-maxpool-fc128,
           dropout), a DataLoader with per-sample ToTensor/Normalize, Adam 1e-3

Each variant runs in its own process; after every epoch the test accuracy is measured
(outside the timed training) so the table shows training seconds to reach 91% and 92.5%.
Printed, not asserted.

    python benchmarks/bench_cnn.py [--threads 2] [--epochs 3] [--example-epochs 1]
                                   [--variants ours,example]

The one-cycle schedule spans ``--epochs``, so the accuracy after epoch k depends on the
total: run it once per total to find the shortest schedule that reaches a target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

TARGETS = (0.91, 0.925)


def _data():
    from threefigures.data import load_dataset

    return load_dataset("fashion-mnist")


def run_ours(epochs: int, seed: int) -> list[tuple[float, float]]:
    """(cumulative training seconds, test accuracy) after each epoch."""
    import torch

    from threefigures.config import ModelConfig, TrainConfig
    from threefigures.models import create_model
    from threefigures.runner import model_config_for
    from threefigures.training import evaluate, fit

    data = _data()
    torch.manual_seed(seed)
    cfg = ModelConfig(name="cnn", channels=(16, 32), layers=(128,))
    model = create_model("cnn", model_config_for(data, cfg))
    curve: list[tuple[float, float]] = []

    def after_epoch(model, _opt, _sched, history, _epoch) -> None:
        acc = evaluate(model, data.test_x, data.test_y).accuracy  # not in epoch_seconds
        model.train()
        curve.append((sum(history.epoch_seconds), acc))

    train = TrainConfig(
        epochs=epochs, batch_size=128, lr=3e-3, schedule="one-cycle", device="cpu", seed=seed
    )
    fit(model, data, train, val_fraction=0.0, on_epoch_end=after_epoch, evaluate_test=False)
    return curve


def run_example(epochs: int, seed: int) -> list[tuple[float, float]]:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torchvision import datasets, transforms

    from threefigures.data import load_dataset
    from threefigures.data.sources import fashion_dir, torchvision_root

    load_dataset("fashion-mnist", cache=False)  # stage the IDX files for torchvision

    class Net(nn.Module):  # pytorch/examples mnist/main.py
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(self.dropout1(x), 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return self.fc2(x)

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    root = str(torchvision_root(fashion_dir()))
    train = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    torch.manual_seed(seed)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    curve: list[tuple[float, float]] = []
    elapsed = 0.0
    for _epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        elapsed += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                correct += int((model(xb).argmax(1) == yb).sum())
        curve.append((elapsed, correct / len(test)))
    return curve


def _time_to(curve: list[tuple[float, float]], target: float) -> str:
    for seconds, acc in curve:
        if acc >= target:
            return f"{seconds:.1f} s"
    return f"not reached ({100 * max(a for _s, a in curve):.2f}% best)"


def main() -> None:
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--example-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="ours,example", help="comma-separated: ours, example")
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        run = run_ours if args.child == "ours" else run_example
        epochs = args.epochs if args.child == "ours" else args.example_epochs
        print(json.dumps(run(epochs, args.seed)))
        return
    _data()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    results = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--threads",
                str(args.threads),
                "--epochs",
                str(args.epochs),
                "--example-epochs",
                str(args.example_epochs),
                "--seed",
                str(args.seed),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-2000:]}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"CNN on fashion-mnist, {args.threads} thread(s), seed {args.seed}")
    for variant, curve in results.items():
        epochs = ", ".join(f"{s:.1f} s → {100 * a:.2f}%" for s, a in curve)
        print(f"{variant:<8} per epoch: {epochs}")
        print(
            f"{'':<8} to 91%: {_time_to(curve, TARGETS[0])}; "
            f"to 92.5%: {_time_to(curve, TARGETS[1])}"
        )
    if "ours" not in results or "example" not in results:
        return
    ours, example = results["ours"], results["example"]
    per_epoch_ours = ours[0][0]
    per_epoch_example = example[0][0]
    print(
        f"seconds per epoch: ours {per_epoch_ours:.1f}, example {per_epoch_example:.1f} "
        f"({per_epoch_example / per_epoch_ours:.1f}× faster)"
    )


if __name__ == "__main__":
    main()
