"""Testing the article's claims: one experiment or ``all`` of them (then the claims page),
keeping the results of experiments already finished in the same mode when asked to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from threefigures.errors import ConfigError
from threefigures.experiments.core import Report, load_report, run_experiment
from threefigures.runs.store import Store


def run_claims(
    name: str,
    *,
    seeds: int = 3,
    quick: bool = False,
    data: str | None = None,
    out_dir: Path = Path("experiments"),
    store: Store | None = None,
    log: Callable[[str], None] = print,
    pretrained: Path | None = None,
    reuse: bool = False,
) -> tuple[list[Report], Path | None]:
    """Run the experiment ``name``, or ``"all"`` of them in the article's order and write
    ``out_dir/claims.html``. Returns the reports and the claims page (None for one
    experiment).

    ``reuse``: an experiment whose ``out_dir/NAME/result.json`` was written in the same mode
    (quick, or the same number of seeds) is read back instead of run again.
    """
    from threefigures.experiments import names  # every experiment registered
    from threefigures.experiments.page import write_claims_page

    chosen = names() if name == "all" else [name]
    reports = []
    for n in chosen:
        old = _finished(out_dir / n, quick=quick, seeds=seeds) if reuse else None
        if old is not None:
            log(f"experiment {n}: reusing {out_dir / n / 'result.json'}")
            reports.append(old)
            continue
        reports.append(
            run_experiment(
                n,
                seeds=seeds,
                quick=quick,
                data=data,
                out_dir=out_dir,
                store=store,
                log=log,
                pretrained=pretrained,
            )
        )
    page = write_claims_page(reports, out_dir / "claims.html") if name == "all" else None
    return reports, page


def _finished(folder: Path, *, quick: bool, seeds: int) -> Report | None:
    """The experiment's report in ``folder`` if it finished in this mode, else None."""
    if not (folder / "result.json").exists():
        return None
    try:
        old = load_report(folder)
    except ConfigError:
        return None
    if old.quick == quick and (quick or len(old.seeds) == seeds):
        return old
    return None
