"""Where training runs: the device (``auto`` → cuda, mps, cpu), its precision, and the
process group under ``torchrun`` (one process per GPU, or per share of the CPU cores)."""

from __future__ import annotations

import torch
from torch import nn

from threefigures.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda, then mps, then cpu. An unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (try --device auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: Apple MPS is not available here (try --device auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → bf16 on CUDA GPUs that support it, fp32 elsewhere (see README)."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    return precision


def distributed_info() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under torchrun with an initialised group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Under ``torchrun`` (WORLD_SIZE > 1): join the process group — nccl on GPUs, gloo on
    CPUs — and share the CPU cores among the local processes. Elsewhere a no-op."""
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return distributed_info()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if backend == "gloo":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    else:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return distributed_info()


def weights_agree_across_ranks(model: nn.Module) -> bool:
    """All ranks hold bit-identical weights (DDP keeps them in step): compare checksums."""
    import torch.distributed as dist

    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()]).cpu()
    stats = torch.stack([flat.sum(), (flat * flat).sum(), flat.abs().max()])
    gathered = [torch.zeros_like(stats) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, stats)
    return all(torch.equal(g, gathered[0]) for g in gathered)
