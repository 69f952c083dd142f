"""CNN inference throughput on the CPU: eager PyTorch against onnxruntime, same weights.

Two networks, untrained (throughput does not depend on the weights): threefigures' CNN
(conv16 → pool → BN → ReLU, conv32 → pool → BN → ReLU, fc128; channels_last) and the CNN of
pytorch/examples mnist/main.py (conv32-conv64-maxpool-fc128). Each is timed at batch 256 in
eval mode under ``torch.inference_mode`` in both memory formats, and exported with
``threefigures.outputs.export.export_onnx`` (parity-checked against torch) and run in onnxruntime
with the same number of threads. Images per second, best of 5 rounds, rounds interleaved.
Printed, not asserted.

    python benchmarks/bench_cnn_inference.py [--threads 2] [--batch 256]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def main() -> None:
    from machine import machine_line  # benchmarks/machine.py (run as a script)

    print(machine_line())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    import torch.nn.functional as F
    from torch import nn

    from threefigures.config import ModelConfig
    from threefigures.models import create_model
    from threefigures.outputs.export import export_onnx

    torch.set_num_threads(args.threads)

    class ExampleNet(nn.Module):  # pytorch/examples mnist/main.py
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            return self.fc2(F.relu(self.fc1(x)))

    torch.manual_seed(0)
    ours = create_model("cnn", ModelConfig(name="cnn", channels=(16, 32), layers=(128,))).eval()
    example = ExampleNet().eval()
    x = torch.rand(args.batch, 1, 28, 28)
    timers: dict[str, Callable[[], object]] = {}
    folder = Path(tempfile.mkdtemp(prefix="tf-cnn-inf-"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    for label, model in (("threefigures CNN", ours), ("PyTorch example CNN", example)):
        formats = (("channels_last", torch.channels_last), ("NCHW", torch.contiguous_format))
        for fmt_name, fmt in formats:
            # .to(memory_format=...) converts in place: each format gets its own copy
            variant = copy.deepcopy(model).to(memory_format=fmt)
            timers[f"{label}, eager {fmt_name}"] = lambda m=variant: _no_grad_call(torch, m, x)
        result = export_onnx(model, folder / f"{len(timers)}.onnx", example=x[:2])
        session = ort.InferenceSession(
            str(result.path), options, providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        array = x.numpy()
        timers[f"{label}, onnxruntime (max |Δ| {result.max_abs_diff:.1e})"] = (
            lambda s=session, n=name, a=array: s.run(None, {n: a})
        )

    best = {key: float("inf") for key in timers}
    for _round in range(args.rounds):
        for key, run in timers.items():
            run()  # warm
            started = time.perf_counter()
            for _ in range(10):
                run()
            best[key] = min(best[key], (time.perf_counter() - started) / 10)
    print(
        f"CNN inference, batch {args.batch}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, onnxruntime {ort.__version__}: images per second"
    )
    for key, seconds in best.items():
        print(f"  {key:<58} {args.batch / seconds:>9,.0f}")


def _no_grad_call(torch: object, model: object, x: object) -> object:
    with torch.inference_mode():  # type: ignore[attr-defined]
        return model(x)  # type: ignore[operator]


if __name__ == "__main__":
    main()
