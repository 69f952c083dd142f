"""``drive``: a network learns to steer from camera frames by imitating a scripted expert
(gymnasium's CarRacing), then drives tracks it never saw; the driving column of Figure 10."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import echo, say


def drive(
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes (under a minute): exercise every phase.")
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for drive.json, drive.html, figures, weights.")
    ] = Path("runs/drive"),
    seed: Annotated[
        int, typer.Option("--seed", help="Seeds the tracks, the noise and the network.")
    ] = 0,
    episodes: Annotated[
        int | None,
        typer.Option(
            "--episodes", help="Unseen evaluation tracks per driver (default 3; 1 quick)."
        ),
    ] = None,
    tracks: Annotated[
        int | None,
        typer.Option("--tracks", help="Recorded training tracks (default 9; 2 quick)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Training epochs (default 8; 3 quick).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes recording tracks at once (default 2)."),
    ] = None,
) -> None:
    """Learn to drive from pixels: a pure-pursuit expert drives seeded CarRacing tracks, a CNN
    learns its steering and gas from the frames, and it is scored on unseen tracks against the
    expert, a constant and a random driver (needs gymnasium with Box2D)."""
    from threefigures.applications.driving.run import DriveConfig, run_drive, table, with_sizes

    base = DriveConfig.quick_config(seed) if quick else DriveConfig(seed=seed)
    config = with_sizes(
        base, episodes=episodes, train_tracks=tracks, epochs=epochs, workers=workers
    )
    result = run_drive(config, out, progress=echo)
    summary = result.summary
    say(table(summary))
    secs = summary["seconds"]
    say(
        f"seconds: collect {secs['collect']:.0f}, train {secs['train']:.0f}, evaluate "
        f"{secs['evaluate']:.0f}, figures {secs['figures']:.0f}, total {secs['total']:.0f}"
    )
    say(f"written: {result.files['json']} and {result.files['html']}")
