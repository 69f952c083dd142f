"""Data, models and devices: ``augment-preview``, ``generate``, ``bench-devices``,
``models`` and ``datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import (
    RunOpt,
    StoreOpt,
    echo,
    joined,
    open_store,
    parse_ints,
)
from threefigures.config import AUGMENTATIONS, DataConfig, TrainConfig, parse_augment


def augment_preview(
    augment: Annotated[
        str, typer.Option(help=f"Comma list of {', '.join(AUGMENTATIONS)}.")
    ] = joined(AUGMENTATIONS),
    data: Annotated[str, typer.Option("--data")] = DataConfig.name,
    rotate_deg: Annotated[float, typer.Option("--rotate-deg")] = TrainConfig.rotate_deg,
    brightness: Annotated[float, typer.Option("--brightness")] = TrainConfig.brightness,
    shift: Annotated[float, typer.Option("--shift")] = TrainConfig.shift,
    n: Annotated[int, typer.Option(help="How many originals.")] = 8,
    copies: Annotated[int, typer.Option(help="Augmented copies of each.")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("augment-preview.png"),
) -> None:
    """Write a grid of training images and randomly augmented copies of them."""
    from threefigures.outputs.augment import augment_preview as draw_preview

    train = TrainConfig(
        augment=parse_augment(augment), rotate_deg=rotate_deg, brightness=brightness, shift=shift
    )
    path = draw_preview(train, out, data=data, n=n, copies=copies, seed=seed)
    echo(f"wrote {path}")


def generate(
    run: RunOpt = "latest",
    n: Annotated[int, typer.Option("--n", help="How many names.")] = 20,
    temperature: Annotated[float, typer.Option(help="<1 sharper, >1 more surprising.")] = 1.0,
    prefix: Annotated[str, typer.Option(help="Start every name with these letters.")] = "",
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible samples.")] = None,
    store: StoreOpt = None,
) -> None:
    """Sample new names from a run trained on names-next."""
    import torch

    from threefigures.data.sequences import VOCAB
    from threefigures.errors import ConfigError
    from threefigures.models.generate import sample_names
    from threefigures.runner import load_run_model

    if not temperature > 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature}")
    model, record, config, _classes = load_run_model(open_store(store), run)
    if not config.model.sequence_output:
        raise ConfigError(f"run {record.id} is not a next-character model (train on names-next)")
    vocab = list(VOCAB)  # every names run reads the same alphabet
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    try:
        names = sample_names(
            model, vocab, n=n, temperature=temperature, prefix=prefix, generator=gen
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for name in names:
        echo(name)


def bench_devices(
    out: Annotated[Path, typer.Option("--out", help="Figure to write.")] = Path(
        "bench-devices.png"
    ),
    batch_sizes: Annotated[str, typer.Option("--batch-sizes")] = "64,128,256,512,1024",
    steps: Annotated[int, typer.Option(help="Timed steps per point.")] = 10,
) -> None:
    """Time forward+backward per batch for MLP, CNN and RNN on every available device."""
    from threefigures.outputs.devices import run_device_bench

    _rows, note, path = run_device_bench(
        out, batch_sizes=parse_ints(batch_sizes, "--batch-sizes"), steps=steps, log=echo
    )
    echo(note)
    echo(f"wrote {path}")


def models() -> None:
    """List the models, one line each."""
    from threefigures.models import list_models

    for entry in list_models():
        echo(f"{entry.name:<12} {entry.summary}")


def datasets() -> None:
    """List the dataset names, with the defaults a dataset sets for itself."""
    from threefigures.data.names import describe_defaults, list_datasets

    for name in list_datasets():
        own = describe_defaults(name)
        echo(f"{name:<16} its defaults: {own}" if own else name)
