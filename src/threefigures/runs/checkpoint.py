"""Weights and training state as safetensors, configs as JSON — never pickle.

Every file is written atomically (a temporary file in the same folder, fsync, rename),
so a crash during a save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from threefigures.errors import CheckpointError

PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol ≥2, zip (torch.save) archives


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], meta: dict[str, str]) -> None:
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta)
    atomic_write_bytes(path, data)


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    # A safetensors file is an 8-byte header length then a JSON header ("{"). Checking the
    # magic only when that shape is absent: a header length may itself start with 0x80.
    looks_like_safetensors = len(data) >= 10 and data[8:9] == b"{"
    if not looks_like_safetensors and data.startswith(PICKLE_MAGIC):
        raise CheckpointError(
            f"{path}: looks like a pickle/torch.save file, which can run code when loaded; "
            "refused — only safetensors weights are accepted"
        )
    try:
        # safetensors validates the header and every size before a tensor is built
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        meta = {str(k): str(v) for k, v in (header.get("__metadata__") or {}).items()}
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(
            f"{path}: not a valid safetensors file (truncated or corrupt: {exc})"
        ) from None
    return tensors, meta


def save_weights(model: nn.Module, path: str | Path, meta: dict[str, str] | None = None) -> Path:
    """The model's weights alone, loadable by any safetensors reader."""
    path = Path(path)
    _save_tensors(path, model.state_dict(), meta or {"format": "pt"})
    return path


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load safetensors weights into ``model``; a mismatch is a one-line error."""
    tensors, _meta = read_tensors(Path(path))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model (missing: {', '.join(missing[:3]) or '-'}; "
            f"unexpected: {', '.join(unexpected[:3]) or '-'})"
        )
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(tensor.shape)} but the config builds "
                f"{tuple(expected[key].shape)}"
            )
        if not bool(torch.isfinite(tensor).all()) and tensor.is_floating_point():
            raise CheckpointError(f"{path}: {key} contains NaN or infinite values")
    model.load_state_dict(tensors)
    return model


def save_train_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any,
    info: dict[str, Any],
) -> Path:
    """One file with model + optimizer tensors and JSON metadata: saved atomically, so the
    training state on disk is always one whole finished epoch."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    # a model with its own learning rule (the perceptron) has no optimizer state
    opt_state = (
        optimizer.state_dict() if optimizer is not None else {"state": {}, "param_groups": []}
    )
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in opt_state["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    meta = {
        "info": json.dumps(info),
        "param_groups": json.dumps(opt_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
        "scheduler": json.dumps(scheduler.state_dict() if scheduler is not None else None),
    }
    path = Path(path)
    _save_tensors(path, tensors, meta)
    return path


def load_train_state(
    path: str | Path,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], Any, dict[str, Any]]:
    """→ (model state, optimizer state, scheduler state, info)."""
    tensors, meta = read_tensors(Path(path))
    try:
        info = json.loads(meta["info"])
        groups = json.loads(meta["param_groups"])
        scalars = json.loads(meta["optim_scalars"])
        scheduler = json.loads(meta["scheduler"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{path}: training state metadata missing or corrupt ({exc})"
        ) from None
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in scalars.items():
        state.setdefault(int(idx), {}).update(values)
    return model_state, {"state": state, "param_groups": groups}, scheduler, info
