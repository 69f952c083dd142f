"""``serve``: the web page where you draw a digit and watch it go through the network."""

from __future__ import annotations

from typing import Annotated

import typer

from threefigures.cli.common import STATE, StoreOpt, echo
from threefigures.web.settings import MIB, Settings


def serve(
    run: Annotated[
        str | None,
        typer.Option(
            "--run", help="Run that answers the drawing page by default (id or `latest`)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; the default keeps it on this machine.")
    ] = Settings.host,
    port: Annotated[int, typer.Option(help="TCP port.")] = Settings.port,
    store: StoreOpt = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest image upload, in MiB.")
    ] = Settings.max_upload_bytes / MIB,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Server processes, each with its own models: for many users on spare cores.",
        ),
    ] = Settings.workers,
    max_concurrent_uploads: Annotated[
        int,
        typer.Option(
            "--max-concurrent-uploads",
            help="Uploads decoded at once per process (a big photo may take ~400 MB).",
        ),
    ] = Settings.max_concurrent_uploads,
    train: Annotated[
        bool,
        typer.Option(
            "--train/--no-train",
            help="Let the page train networks on this machine (one at a time, capped sizes).",
        ),
    ] = Settings.train_enabled,
) -> None:
    """Serve the web page: draw a digit and watch it go through the network."""
    import math

    from threefigures.errors import ConfigError
    from threefigures.web.server import run_server

    if not math.isfinite(max_upload_mb):
        raise ConfigError(f"--max-upload-mb must be a finite number, got {max_upload_mb}")
    settings = Settings(
        store=store or STATE["store"],
        run=run,
        host=host,
        port=port,
        max_upload_bytes=int(max_upload_mb * MIB),
        workers=workers,
        max_concurrent_uploads=max_concurrent_uploads,
        train_enabled=train,
    ).validate()
    echo(f"threefigures web page on http://{host}:{port}/ (Ctrl-C stops it)")
    run_server(settings)
