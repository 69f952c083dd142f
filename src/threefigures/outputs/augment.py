"""``augment-preview``: training images beside randomly augmented copies of them, drawn
with the same batched augmentation ``fit`` uses."""

from __future__ import annotations

from pathlib import Path

import torch

from threefigures.config import TrainConfig


def augment_preview(
    train: TrainConfig,
    out: Path,
    *,
    data: str = "digits",
    n: int = 8,
    copies: int = 4,
    seed: int = 0,
) -> Path:
    """Draw ``n`` training images of ``data`` and ``copies`` augmented copies of each, with
    the augmentations and strengths of ``train`` (validated as for training)."""
    from threefigures.data import load_dataset
    from threefigures.data.augment import AugmentConfig, augment_batch
    from threefigures.figures.augment import draw_augment_preview
    from threefigures.training import to_float_images

    train.validate()
    ds = load_dataset(data)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(ds.train_y), generator=gen)[:n]
    originals = to_float_images(ds.train_x[pick])  # (N, 1, H, W)
    cfg = AugmentConfig.from_train_config(train)
    augmented = torch.stack([augment_batch(originals, cfg, generator=gen) for _ in range(copies)])
    label = f"{', '.join(cfg.ops) or 'none'} · rotate ±{cfg.rotate_deg:g}° · "
    label += f"brightness ±{cfg.brightness:g} · shift ±{cfg.shift:g}"
    return draw_augment_preview(
        originals[:, 0].numpy(),  # (N, H, W)
        augmented[:, :, 0].numpy(),  # (copies, N, H, W)
        out,
        ops_label=label,
    )
