"""``demo`` and ``train``: train a model, write its three figures and report.

The options' defaults are the config dataclasses' own (``TrainConfig.batch_size`` …), so
the command line and the library cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from threefigures.cli.common import (
    PROCESS_START,
    StoreOpt,
    echo,
    joined,
    open_store,
)
from threefigures.config import (
    ACTIVATIONS,
    AUGMENTATIONS,
    CELLS,
    DEVICES,
    LOSSES,
    OPTIMIZERS,
    POOLINGS,
    SCHEDULES,
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from threefigures.data.names import (
    FOLDER_PREFIX,
    IMAGE_DATASETS,
    SEQUENCE_DATASETS,
    TABLE_DATASETS,
)


def _print_outcome(outcome: Any) -> None:
    run = outcome.run
    echo("")
    echo(f"run {run.id} finished in {run.seconds:.1f} s on {run.device}")
    for kind in ("figure1", "figure2", "figure3", "tradeoff", "report", "weights"):
        if kind in outcome.paths:
            echo(f"  {kind:<8} {outcome.paths[kind]}")
    baseline = run.info.get("majority_baseline")
    beside = f" (majority-class baseline {100 * baseline:.2f}%)" if baseline is not None else ""
    echo(
        f"test accuracy: {100 * outcome.test.accuracy:.2f}% "
        f"on {len(outcome.test.labels):,} held-out examples{beside}"
    )
    metrics = run.info.get("binary_metrics")
    if metrics:  # a binary table (breast-cancer): the numbers a screening test is judged by
        positive = run.info.get("positive_class", "positive")
        auc = metrics["roc_auc"]
        echo(
            f"at threshold {metrics['threshold']:g}: "
            f"sensitivity {100 * metrics['sensitivity']:.1f}% "
            f"({metrics['fn']} {positive} missed), specificity "
            f"{100 * metrics['specificity']:.1f}% ({metrics['fp']} false alarms), ROC AUC "
            + ("—" if auc is None else f"{auc:.3f}")
        )
        for name, m in run.info.get("baselines", {}).items():
            echo(
                f"  {name:<20} accuracy {100 * m['accuracy']:.1f}%, sensitivity "
                f"{100 * m['sensitivity']:.1f}%, specificity {100 * m['specificity']:.1f}%, "
                f"AUC {m['roc_auc']:.3f}"
            )
        echo(str(run.info.get("disclaimer", "")))


def demo(
    store: StoreOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for this run's files.")] = None,
    min_accuracy: Annotated[
        float, typer.Option(help="Fail (exit 1) if the test accuracy is below this.")
    ] = 0.92,
    device: Annotated[str, typer.Option(help=" | ".join(DEVICES))] = TrainConfig.device,
) -> None:
    """Train the article's 784 → 256 → 10 network on the embedded digits for 3 epochs
    and draw its three figures and report."""
    import dataclasses

    from threefigures.config import RunConfig
    from threefigures.runner import train_run

    config = RunConfig()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))
    outcome = train_run(
        config,
        store=open_store(store),
        out_dir=out,
        progress=True,
        log=echo,
        process_start=PROCESS_START,
    )
    if outcome is None:  # a torchrun worker rank: rank 0 reports
        return
    _print_outcome(outcome)
    if outcome.test.accuracy < min_accuracy:
        echo(
            f"error: test accuracy {100 * outcome.test.accuracy:.2f}% "
            f"is below {100 * min_accuracy:.0f}%"
        )
        raise typer.Exit(1)


def train(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help=" | ".join(
                [
                    *IMAGE_DATASETS,
                    *SEQUENCE_DATASETS,
                    *TABLE_DATASETS,
                    f"{FOLDER_PREFIX}PATH",
                    "PATH",
                ]
            ),
        ),
    ] = DataConfig.name,
    data_dir: Annotated[
        str | None,
        typer.Option("--data-dir", help="Folder with the four IDX files (mnist, fashion-mnist)."),
    ] = DataConfig.data_dir,
    binary: Annotated[
        int | None, typer.Option("--binary", help="Make it binary: is it class K?")
    ] = DataConfig.binary,
    model: Annotated[
        str,
        typer.Option(
            "--model", help="perceptron | mlp | cnn | rnn | minilm (`threefigures models`)."
        ),
    ] = ModelConfig.name,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers",
            help=f"MLP hidden layers (default {joined(ModelConfig.layers)}) or the CNN's head "
            "(default 128).",
        ),
    ] = None,
    activation: Annotated[str, typer.Option(help=" | ".join(ACTIVATIONS))] = ModelConfig.activation,
    dropout: Annotated[
        float, typer.Option(help="Dropout between hidden layers / in heads.")
    ] = ModelConfig.dropout,
    channels: Annotated[
        str, typer.Option(help="CNN: channels per conv block, e.g. 16,32.")
    ] = joined(ModelConfig.channels),
    kernel_size: Annotated[
        int, typer.Option("--kernel-size", help="CNN kernel size (odd).")
    ] = ModelConfig.kernel_size,
    pooling: Annotated[
        str, typer.Option(help=f"CNN pooling: {' | '.join(POOLINGS)}")
    ] = ModelConfig.pooling,
    batch_norm: Annotated[
        bool, typer.Option("--batch-norm/--no-batch-norm")
    ] = ModelConfig.batch_norm,
    cell: Annotated[
        str | None,
        typer.Option(
            help=f"RNN cell: {' | '.join(CELLS)} (default {ModelConfig.cell}, or the dataset's: "
            "`threefigures datasets`)."
        ),
    ] = None,
    hidden_size: Annotated[
        int, typer.Option("--hidden-size", help="RNN hidden units.")
    ] = ModelConfig.hidden_size,
    num_layers: Annotated[
        int, typer.Option("--num-layers", help="RNN layers.")
    ] = ModelConfig.num_layers,
    bidirectional: Annotated[
        bool | None,
        typer.Option(
            "--bidirectional/--one-direction",
            help="RNN: read both ways (default one direction, or the dataset's).",
        ),
    ] = None,
    attention: Annotated[
        bool,
        typer.Option(
            "--attention", help="RNN: attention pooling over steps instead of the last state."
        ),
    ] = ModelConfig.attention,
    freeze: Annotated[
        bool,
        typer.Option(
            "--freeze", help="minilm: train the head only; the pretrained encoder stays fixed."
        ),
    ] = ModelConfig.freeze,
    loss: Annotated[
        str | None,
        typer.Option(
            help=f"{' | '.join(LOSSES)} (bce: binary tasks; default {TrainConfig.loss}, or the "
            "dataset's: bce for breast-cancer)."
        ),
    ] = None,
    pos_weight: Annotated[
        float | None,
        typer.Option(
            "--pos-weight",
            help="BCE's pos_weight: a missed positive (malignant) costs W times a false alarm.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help=f"Binary tasks: answer positive at this probability "
            f"(default {TrainConfig.threshold}).",
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help=f"Epochs to train (default {TrainConfig.epochs}, or the dataset's)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help=f"Default {TrainConfig.batch_size}, or the dataset's for the model.",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help=f"Learning rate (default {TrainConfig.lr:g}, or the dataset's for the model).",
        ),
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(
            help=f"{' | '.join(OPTIMIZERS)} (default {TrainConfig.optimizer}, or the dataset's)."
        ),
    ] = None,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = TrainConfig.momentum,
    nesterov: Annotated[
        bool, typer.Option("--nesterov", help="SGD with Nesterov momentum.")
    ] = TrainConfig.nesterov,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = TrainConfig.weight_decay,
    schedule: Annotated[str, typer.Option(help=" | ".join(SCHEDULES))] = TrainConfig.schedule,
    step_size: Annotated[
        int, typer.Option("--step-size", help="step schedule: epochs per decay")
    ] = TrainConfig.step_size,
    gamma: Annotated[float, typer.Option(help="step schedule: decay factor")] = TrainConfig.gamma,
    grad_clip: Annotated[
        float, typer.Option("--grad-clip", help="Max gradient norm; 0 = off.")
    ] = TrainConfig.grad_clip,
    early_stopping: Annotated[
        int,
        typer.Option("--early-stopping", help="Patience in epochs on validation loss; 0 = off."),
    ] = TrainConfig.early_stopping,
    augment: Annotated[
        str, typer.Option(help=f"Comma list of {', '.join(AUGMENTATIONS)} (images only).")
    ] = joined(TrainConfig.augment),
    rotate_deg: Annotated[float, typer.Option("--rotate-deg")] = TrainConfig.rotate_deg,
    brightness: Annotated[float, typer.Option("--brightness")] = TrainConfig.brightness,
    shift: Annotated[
        float, typer.Option("--shift", help="Fraction of the image size.")
    ] = TrainConfig.shift,
    seed: Annotated[
        int, typer.Option(help="Seed for weights, shuffling and dropout.")
    ] = TrainConfig.seed,
    device: Annotated[str, typer.Option(help=" | ".join(DEVICES))] = TrainConfig.device,
    precision: Annotated[str, typer.Option(help="fp32 | bf16 | auto")] = TrainConfig.precision,
    val_fraction: Annotated[float, typer.Option("--val-fraction")] = DataConfig.val_fraction,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for this run's files.")] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue RUN from its last finished epoch.")
    ] = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Train a perceptron, MLP, CNN or RNN on any dataset; writes its three figures and report.

    Under `torchrun --nproc_per_node N -m threefigures train ...` it trains with
    DistributedDataParallel; only rank 0 writes the store and the figures."""
    from threefigures.runner import resume_run, train_run
    from threefigures.runs.options import run_config_from_options

    if resume is not None:
        outcome = resume_run(
            resume, store=open_store(store), progress=not quiet, log=echo, epochs=epochs
        )
        _print_outcome(outcome)
        return
    # unset (None, or an empty --layers): the model's or the dataset's own default
    config = run_config_from_options(
        {
            "data": data,
            "data_dir": data_dir,
            "val_fraction": val_fraction,
            "binary": binary,
            "model": model,
            "layers": layers or None,
            "activation": activation,
            "dropout": dropout,
            "channels": channels,
            "kernel_size": kernel_size,
            "pooling": pooling,
            "batch_norm": batch_norm,
            "cell": cell,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "bidirectional": bidirectional,
            "attention": attention,
            "freeze": freeze,
            "loss": loss,
            "pos_weight": pos_weight,
            "threshold": threshold,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": optimizer,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "schedule": schedule,
            "step_size": step_size,
            "gamma": gamma,
            "grad_clip": grad_clip,
            "early_stopping": early_stopping,
            "augment": augment,
            "rotate_deg": rotate_deg,
            "brightness": brightness,
            "shift": shift,
            "seed": seed,
            "device": device,
            "precision": precision,
        }
    )
    run_outcome = train_run(
        config,
        store=open_store(store),
        out_dir=out,
        progress=not quiet,
        log=echo,
        process_start=PROCESS_START,
    )
    if run_outcome is not None:  # None: a torchrun worker rank, which writes nothing
        _print_outcome(run_outcome)
