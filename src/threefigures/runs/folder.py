"""The run folder's format: what a trained run leaves on disk and how it is read back.

    config.json                  the run config and class names (JSON, never pickle)
    model.safetensors            the weights
    train_state.safetensors      weights + optimizer + schedule + history, for --resume
    live.safetensors             while it trains from the web page: the weights as they are
                                 now, every few seconds (deleted when training ends)
    train.log                    a run trained from the web page: its process's messages

Everything that loads a stored model (runner, web, experiments) goes through here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from threefigures.config import ModelConfig, RunConfig
from threefigures.errors import CheckpointError, ConfigError
from threefigures.models import create_model
from threefigures.runs.checkpoint import atomic_write_text, load_weights

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "train_state.safetensors"
LIVE_WEIGHTS_FILE = "live.safetensors"
TRAIN_LOG = "train.log"


def write_run_config(folder: Path, run_id: str, config: RunConfig, classes: list[str]) -> None:
    """``config.json``: the run config and class names, the format ``read_run_config`` reads."""
    payload = {"format": 1, "run_id": run_id, "run": config.to_dict(), "classes": classes}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2))


def read_run_config(folder: Path) -> tuple[RunConfig, list[str]]:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: the run's folder is missing (deleted or moved?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(raw, dict) or "run" not in raw or "classes" not in raw:
        raise CheckpointError(f"{path}: not a threefigures run config (needs 'run' and 'classes')")
    classes = raw["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{path}: 'classes' must be a list of strings")
    try:
        config = RunConfig.from_dict(raw["run"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    binary_sigmoid = config.model.num_classes == 1 and len(classes) == 2  # BCE: one output
    if len(classes) != config.model.num_classes and not binary_sigmoid:
        raise CheckpointError(
            f"{path}: {len(classes)} class names for a model with "
            f"{config.model.num_classes} outputs"
        )
    return config, classes


def build_model(config: ModelConfig, folder: Path) -> nn.Module:
    """A fresh model from a stored config (an invalid one is the folder's error)."""
    try:
        return create_model(config.name, config)
    except ConfigError as exc:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {exc}") from None


def load_model_from_folder(
    folder: Path, device: str = "cpu", *, weights_file: str = WEIGHTS_FILE
) -> tuple[nn.Module, RunConfig, list[str]]:
    """Rebuild a model from ``config.json`` and load ``model.safetensors`` (no pickle), or
    another weights file of the folder (the web page's mid-training snapshot)."""
    config, classes = read_run_config(folder)
    model = build_model(config.model, folder)
    load_weights(model, folder / weights_file)
    model.to(device).eval()
    return model, config, classes


def load_weights_from_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load the model part of a training state, refusing one made for another model."""
    expected = model.state_dict()
    if set(expected) != set(state) or any(
        tuple(expected[k].shape) != tuple(v.shape) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: training state does not match the run's model config")
    model.load_state_dict(state)
