"""A small convolutional network: convolution + pooling blocks, then a fully connected head.

Sized to train in seconds per epoch on a CPU: with ``channels=(16, 32), layers=(128,)`` it is
1×28×28 → conv 16 → pool → conv 32 → pool → 32×7×7 → 128 → 10, 206,970 parameters. Almost all
of them sit in the first fully connected layer (200,832), while the convolutions, with under
5k weights shared across every position, do most of the computing. The 128-unit head is the
model's registered default (``default_config("cnn")``); ModelConfig's own ``layers=(256,)``,
chosen for the MLP, would double that layer: 409,082 in all.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.models.base import Network
from threefigures.models.layers import ACTIVATION_MODULES, Normalize
from threefigures.models.registry import register_model


def _count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


class CNN(Network):
    """Conv → pool → (BatchNorm) → activation, once per entry of ``config.channels``;
    then flatten → Linear → activation → (Dropout) per entry of ``config.layers`` → Linear.

    Pooling comes early, straight after the convolution, so batch norm and the activation
    work on maps a quarter of the size: on a CPU they and the pooling were over half the
    step time when run at full resolution (profiled in benchmarks/bench_cnn.py).
    Max-pooling commutes with any increasing activation, so only the norm sees different
    statistics than in the conv → norm → act → pool order.

    Convolutions use ``padding=kernel_size // 2`` so they keep the map's size and only the
    pooling halves it: the shapes stay easy to read (28 → 14 → 7). With batch norm the
    convolution has no bias, since the norm's own shift would cancel it.

    Input: (B, C, H, W) pixels in [0, 1]. Output: (B, classes) logits.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.normalize = Normalize(config.input_mean, config.input_std)
        channels, height, width = config.input_shape
        k = config.kernel_size
        pool_cls: type[nn.Module] = nn.MaxPool2d if config.pooling == "max" else nn.AvgPool2d
        # One record per block for describe(): (name, kind, out_shape, modules holding params).
        self._blocks: list[tuple[str, str, tuple[int, ...], tuple[nn.Module, ...]]] = [
            ("input", "input", (channels, height, width), ())
        ]

        features: list[nn.Module] = []
        for i, out_channels in enumerate(config.channels, start=1):
            conv = nn.Conv2d(channels, out_channels, k, padding=k // 2, bias=not config.batch_norm)
            after: list[nn.Module] = []
            if config.batch_norm:
                after.append(nn.BatchNorm2d(out_channels))
            after.append(ACTIVATION_MODULES[config.activation]())
            channels = out_channels
            features.append(conv)
            # A 2×2 window needs at least 2 px on each side; a 1-px map has nothing to pool.
            if height >= 2 and width >= 2:
                self._blocks.append((f"conv{i}", "conv", (channels, height, width), (conv,)))
                pool = pool_cls(2)
                features.extend([pool, *after])
                height, width = height // 2, width // 2
                kind = f"{config.pooling}pool"
                self._blocks.append((f"pool{i}", kind, (channels, height, width), (pool, *after)))
            else:
                features.extend(after)
                self._blocks.append((f"conv{i}", "conv", (channels, height, width), (conv, *after)))
        self.features = nn.Sequential(*features)
        self.feature_shape: tuple[int, int, int] = (channels, height, width)

        head: list[nn.Module] = []
        width_in = math.prod(self.feature_shape)
        for i, units in enumerate(config.layers, start=1):
            fc: list[nn.Module] = [nn.Linear(width_in, units)]
            fc.append(ACTIVATION_MODULES[config.activation]())
            if config.dropout > 0:
                fc.append(nn.Dropout(config.dropout))
            head.extend(fc)
            width_in = units
            self._blocks.append((f"fc{i}", "linear", (units,), tuple(fc)))
        self.head = nn.Sequential(*head)
        self.out = nn.Linear(width_in, config.num_classes)
        self._blocks.append(("output", "linear", (config.num_classes,), (self.out,)))
        # channels_last (NHWC) lets oneDNN run the convolutions, pooling and norms without
        # layout conversions: it halved the CPU training step here (benchmarks/bench_cnn.py)
        self.to(memory_format=torch.channels_last)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolution (Grad-CAM hooks its activations and gradients).

        A property rather than an attribute: assigning the module to ``self`` would register
        it a second time and duplicate its weights in the state dict (safetensors refuses
        shared tensors).
        """
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        return convs[-1]

    def block_outputs(self) -> list[tuple[str, str, nn.Module]]:
        """(name, kind, module) per block after the input: the module whose output is the
        block's output, shaped as ``describe()`` says ("conv1": the convolution's raw maps,
        "pool1": after pooling, norm and activation, "fc1": the hidden units, "output": the
        logits). Forward hooks on these read the network layer by layer."""
        return [(name, kind, mods[-1]) for name, kind, _shape, mods in self._blocks if mods]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.config.input_shape)  # (B, C, H, W)
        x = self.normalize(x).contiguous(memory_format=torch.channels_last)  # NHWC in memory
        x = self.features(x)  # (B, C', H', W') = (B, *feature_shape)
        x = x.flatten(1)  # (B, C'*H'*W')
        return self.out(self.head(x))  # (B, classes)

    def describe(self) -> list[dict[str, Any]]:
        """The network block by block, for Figure 1.

        Each entry: ``name`` ("input", "conv1", "pool1", …, "fc1", …, "output"), ``kind``
        ("input", "conv", "maxpool"/"avgpool", "linear"), ``out_shape`` (C, H, W) for maps or
        (units,) after flattening, ``params`` (trainable numbers in the block; a conv block
        counts its batch norm). The params add up to the model's parameter count.
        """
        return [
            {"name": name, "kind": kind, "out_shape": shape, "params": _count(*mods)}
            for name, kind, shape, mods in self._blocks
        ]

    def activation_taps(self) -> list[tuple[str, nn.Module]]:
        return [(name, module) for name, _kind, module in self.block_outputs()]

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        return {name: m for name, _kind, m in self.block_outputs() if isinstance(m, nn.Conv2d)}


@register_model(
    "cnn",
    "convolutional network: conv + pooling blocks (channels 16,32), dense head",
    layers=(128,),  # the head; ModelConfig's (256,) is the MLP's hidden layer
)
def cnn(config: ModelConfig) -> nn.Module:
    return CNN(config)
