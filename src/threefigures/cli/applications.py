"""``applications`` (Figure 10: driving, medical diagnosis, language, measured) and ``faq``
(the article's ten questions answered from the stored runs and results)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import StoreOpt, echo, open_store, say


def applications(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Tiny sizes for every application (CI): about 2 minutes."),
    ] = False,
    reuse: Annotated[
        bool,
        typer.Option("--reuse", help="Train nothing: redraw from the results already in --out."),
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Folder: drive/, medical/, language/, figure10.png.")
    ] = Path("applications"),
    store: StoreOpt = None,
) -> None:
    """Figure 10 from real runs: a CNN that steers a car from its camera (CarRacing), an MLP
    that reads breast-cancer aspirate measurements, a pretrained transformer that reads the
    sentiment of drug reviews; writes figure10.png and applications.html."""
    from threefigures.applications.figure10 import run_applications

    summary = run_applications(out, open_store(store), quick=quick, reuse=reuse, log=echo)
    for col in summary["columns"]:
        say(f"{col['key']}: {col['status']}")
        for line in col.get("measured", []):
            say(f"  {line}")
        if col.get("why"):
            say(f"  {col['why']}")
    say(f"figure: {summary['figure']}")
    say(f"page: {summary['page']}")


def faq(
    out: Annotated[Path, typer.Option("--out", help="The markdown file to write.")] = Path(
        "docs/faq.md"
    ),
    claims: Annotated[
        Path, typer.Option("--claims", help="Where `experiment all --out` wrote the claims.")
    ] = Path("docs/claims"),
    applications_dir: Annotated[
        Path,
        typer.Option("--applications", help="Where `applications --out` wrote its results."),
    ] = Path("docs/applications"),
    store: StoreOpt = None,
) -> None:
    """Answer the article's ten FAQ questions from this project's own stored runs, claims and
    applications (every number read at generation time; faq.json lists their sources)."""
    from threefigures.applications.faq import write_faq

    path, answers = write_faq(out, open_store(store), claims=claims, applications=applications_dir)
    cited = sum(len(a.citations) for a in answers)
    missing = sorted({m for a in answers for m in a.missing})
    say(f"faq: {path} ({len(answers)} answers, {cited} numbers cited)")
    for command in missing:
        say(f"  not measured yet, run: {command}")
