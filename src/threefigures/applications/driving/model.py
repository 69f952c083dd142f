"""The driving network: a camera view in, (steer, gas) out — a small regression CNN.

``DriverConfig`` → ``DriverCNN(config)``; stored as safetensors weights plus the config as
JSON, never a pickle. The network sees the 48×48 grey view of ``recording.camera_view``:
the road ahead and, in the bottom rows, the speed and wheel-spin bars of the dashboard (the
only way a single frame can tell how fast the car goes, which the gas depends on).

Shapes with the defaults: (B, 1, 48, 48) → conv 5×5/2 → (B, 16, 24, 24) → conv 3×3/2 →
(B, 32, 12, 12) → conv 3×3/2 → (B, 32, 6, 6) → flatten 1,152 → 64 → 2: 88,226 parameters,
~0.9 M multiply-adds per frame. Strided convolutions instead of pooling: the same shrinking
for fewer operations, which matters on a CPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from threefigures.config import from_dict
from threefigures.errors import ConfigError
from threefigures.models.layers import Normalize
from threefigures.runs.checkpoint import atomic_write_text, load_weights, save_weights


@dataclass(frozen=True)
class DriverConfig:
    """The driving network's architecture. ``input_mean``/``input_std``: the training views'
    pixel statistics in [0, 1] (the model normalises its own input)."""

    view: int = 48
    channels: tuple[int, ...] = (16, 32, 32)
    hidden: int = 64
    dropout: float = 0.1
    outputs: tuple[str, ...] = ("steer", "gas")
    input_mean: float = 0.5
    input_std: float = 0.25

    def validate(self) -> None:
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError(f"channels must be positive, got {list(self.channels)}")
        if self.view % (2 ** len(self.channels)) != 0:
            raise ConfigError(
                f"view {self.view} must be divisible by 2**{len(self.channels)} (one halving "
                "per convolution)"
            )
        if self.hidden <= 0 or not 0.0 <= self.dropout < 1.0 or self.input_std <= 0:
            raise ConfigError("hidden > 0, dropout in [0, 1) and input_std > 0 are required")
        if not self.outputs:
            raise ConfigError("the network needs at least one output")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> DriverConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"driver config is not valid JSON: {exc}") from None
        config = from_dict(cls, raw, where="driver config")
        config.validate()
        return config


class DriverCNN(nn.Module):
    """Frame (B, 1, H, W) with pixels in [0, 1] → (B, outputs): steer (+ right), gas."""

    def __init__(self, config: DriverConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        layers: list[nn.Module] = [Normalize(config.input_mean, config.input_std)]
        in_channels = 1
        for i, channels in enumerate(config.channels):
            kernel = 5 if i == 0 else 3  # a wider first look at the road edges
            layers += [
                nn.Conv2d(in_channels, channels, kernel, stride=2, padding=kernel // 2),
                nn.ReLU(),
            ]
            in_channels = channels
        self.features = nn.Sequential(*layers)
        side = config.view // 2 ** len(config.channels)
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, C, side, side) → (B, C·side²)
            nn.Linear(in_channels * side * side, config.hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, len(config.outputs)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


WEIGHTS = "driver.safetensors"
CONFIG = "driver.json"


def save_driver(model: DriverCNN, folder: Path) -> tuple[Path, Path]:
    """Weights (safetensors, the config in its metadata too) and ``driver.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = model.config.to_json()
    weights = save_weights(model, folder / WEIGHTS, {"format": "pt", "driver_config": text})
    config = folder / CONFIG
    atomic_write_text(config, text + "\n")
    return weights, config


def load_driver(folder: Path) -> DriverCNN:
    """The network saved by :func:`save_driver` in ``folder``, in eval mode."""
    path = folder / CONFIG
    if not path.exists():
        raise ConfigError(f"{path}: no driver config here (run `threefigures drive` first)")
    model = DriverCNN(DriverConfig.from_json(path.read_text(encoding="utf-8")))
    load_weights(model, folder / WEIGHTS)
    return model.eval()
