"""``experiment``: test the article's claims, one or ``all`` of them (then claims.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import StoreOpt, echo, open_store, say


def experiment(
    name: Annotated[str, typer.Argument(help="An experiment (see --help) or `all`.")],
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per configuration.")] = 3,
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset override, e.g. fashion-mnist.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes and one seed: exercise the machinery.")
    ] = False,
    pretrained: Annotated[
        Path | None,
        typer.Option("--pretrained", help="transfer: your own CNN weights (.safetensors)."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results (one subfolder per experiment).")
    ] = Path("experiments"),
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse", help="all: keep experiments already finished in --out in the same mode."
        ),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Test one of the article's claims (small-data, dropout, augmentation, transfer, losses,
    activations, devices, depth), or `all` of them and write claims.html."""
    from threefigures.experiments import run_claims

    reports, page = run_claims(
        name,
        seeds=seeds,
        quick=quick,
        data=data,
        out_dir=out,
        store=open_store(store),
        log=echo,
        pretrained=pretrained,
        reuse=reuse,
    )
    for report in reports:
        say(f"{report.name}: {report.outcome.verdict.label} — {report.folder / 'result.json'}")
    if page is not None:
        say(f"claims page: {page}")
