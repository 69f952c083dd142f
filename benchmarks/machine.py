"""The machine line every benchmark prints first: CPU model and the instruction sets that
change the numbers (AVX2, AVX-512, bf16, AMX), cores, Python and torch. Numbers are only
comparable between runs that print the same line."""

from __future__ import annotations

import os
import platform
import subprocess

FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def machine_line() -> str:
    """``machine: AMD EPYC · avx2 fma · 2 cores · python 3.11.2 · torch 2.14.1``."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                model = value.strip()
            elif key.strip() == "Flags":
                flags = set(value.split())
    except OSError:  # no lscpu (not Linux): the model from platform, no flags
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    have = " ".join(f for f in FLAGS if f in flags) or "flags unknown"
    return (
        f"machine: {model} · {have} · {os.cpu_count()} cores · "
        f"python {platform.python_version()} · torch {torch_version}"
    )


if __name__ == "__main__":
    print(machine_line())
