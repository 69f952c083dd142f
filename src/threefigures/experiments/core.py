"""The machinery every experiment shares: a registry, seeded training of one configuration
on a (sub)set of the data, every run recorded in the store, and the result written as a
figure, a table, a verdict and ``result.json``.

An experiment is a function ``(ctx: Context) -> Outcome`` registered under a name. It trains
what it needs through :meth:`Context.train` (each run goes through the shared life cycle of
:mod:`threefigures.runs.lifecycle`: its folder, config.json, per-epoch weights and metrics in
the store), compares the numbers with :mod:`.verdict`, draws its figure with
:mod:`threefigures.figures.claims` (pieces in :mod:`.plots`), and returns its table,
comparisons and notes through :func:`conclude`, which decides the verdict.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from threefigures.data import AnyDataset, Dataset, is_sequence_data, is_table_data, load_data
from threefigures.errors import ConfigError, DataError
from threefigures.experiments.verdict import Comparison, Verdict, decide
from threefigures.models import create_model, model_config_for
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.lifecycle import finish_run, record_fit, start_run, tracked
from threefigures.runs.store import Store
from threefigures.training import FitResult, fit

Log = Callable[[str], None]


@dataclass
class Outcome:
    """What an experiment found: its table, figure and verdict, and the comparisons behind
    the verdict."""

    claim: str
    question: str
    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    figure: Path
    verdict: Verdict
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


def conclude(
    *,
    claim: str,
    question: str,
    table: tuple[tuple[str, ...], list[tuple[Any, ...]]],
    figure: Path,
    comparisons: list[Comparison],
    notes: list[str],
    numbers: dict[str, Any],
    verdict: Verdict | None = None,
) -> Outcome:
    """An experiment's :class:`Outcome` from its table (header, rows), figure, comparisons,
    notes and numbers; the verdict is ``decide(comparisons)`` unless one is given."""
    header, rows = table
    return Outcome(
        claim=claim,
        question=question,
        header=header,
        rows=rows,
        figure=figure,
        verdict=verdict if verdict is not None else decide(comparisons),
        comparisons=comparisons,
        notes=notes,
        numbers=numbers,
    )


@dataclass
class Report:
    """An experiment's outcome plus how it was run."""

    name: str
    outcome: Outcome
    command: str
    seeds: list[int]
    quick: bool
    seconds: float
    runs: list[str]
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "name": self.name,
            "claim": o.claim,
            "question": o.question,
            "verdict": o.verdict.to_dict(),
            "comparisons": [c.to_dict() for c in o.comparisons],
            "table": {"header": list(o.header), "rows": [list(r) for r in o.rows]},
            "figure": o.figure.name,
            "notes": o.notes,
            "numbers": o.numbers,
            "command": self.command,
            "seeds": self.seeds,
            "quick": self.quick,
            "seconds": round(self.seconds, 1),
            "runs": self.runs,
        }


@dataclass
class Context:
    """What an experiment gets: seeds, mode, data override, its output folder and the store."""

    name: str
    seeds: list[int]
    quick: bool
    out_dir: Path
    store: Store | None = None
    data: str | None = None
    log: Log = print
    pretrained: Path | None = None  # a user's safetensors weights for the transfer experiment
    runs: list[str] = field(default_factory=list)
    _datasets: dict[str, AnyDataset] = field(default_factory=dict)

    @property
    def figure_path(self) -> Path:
        """Where the experiment's figure goes: ``OUT/NAME/NAME.png``."""
        return self.out_dir / f"{self.name}.png"

    def dataset(self, name: str) -> AnyDataset:
        """Load a dataset once per experiment."""
        if name not in self._datasets:
            self._datasets[name] = load_data(name)
        return self._datasets[name]

    def images(self, name: str) -> Dataset:
        """An image dataset, loaded once: a sequence dataset is a one-line error, and a
        missing fashion-mnist says how to install it."""
        try:
            data = self.dataset(name)
        except DataError as exc:
            if name != "fashion-mnist":
                raise
            raise DataError(
                f"the {self.name} experiment needs fashion-mnist: install it with "
                f"`apt-get install dataset-fashion-mnist` ({exc})"
            ) from None
        if is_sequence_data(data) or is_table_data(data):
            raise ConfigError(f"the {self.name} experiment needs an image dataset, not {name!r}")
        return data

    def image_data(self, quick_size: int, max_train: int) -> Dataset:
        """``--data`` (default digits) for an experiment that needs images: ``quick_size``
        training examples in quick mode, at most ``max_train`` otherwise (stratified)."""
        data = self.images(self.data or "digits")
        if self.quick:
            return subset(data, quick_size, 0)
        if len(data.train_y) > max_train:
            return subset(data, max_train, 0)
        return data

    def train(
        self,
        data: AnyDataset,
        model: ModelConfig,
        train: TrainConfig,
        *,
        label: str,
        init: Callable[[torch.nn.Module], None] | None = None,
        val_fraction: float = 0.1,
        binary: int | None = None,
    ) -> tuple[torch.nn.Module, FitResult]:
        """Train one configuration (seeded by ``train.seed``) and record it in the store.

        ``binary``: the K of a ``make_binary`` dataset, recorded in the run's config.
        ``init``: called on the fresh model before training (e.g. to load pretrained
        weights and freeze layers). Returns the trained model and its fit result (with the
        test evaluation).
        """
        model_cfg = model_config_for(data, model, loss=train.loss)
        base_name = data.name.split(" (is it")[0]  # make_binary's name → the dataset's
        run_cfg = RunConfig(
            data=DataConfig(name=base_name, val_fraction=val_fraction, binary=binary),
            model=model_cfg,
            train=train,
        )
        run_cfg.validate()
        torch.manual_seed(train.seed)
        net = create_model(model_cfg)
        if init is not None:
            init(net)
        if self.store is None:
            result = fit(net, data, train, val_fraction=val_fraction)
        else:
            result = self._fit_recorded(self.store, net, data, run_cfg, label)
        assert result.test is not None
        self.log(
            f"  {label:<44} seed {train.seed}: test {100 * result.test.accuracy:6.2f}%  "
            f"({result.train_seconds:.1f} s)"
        )
        return net, result

    def _fit_recorded(
        self, store: Store, net: torch.nn.Module, data: AnyDataset, run_cfg: RunConfig, label: str
    ) -> FitResult:
        """``fit`` inside the shared run life cycle: the same folder, config.json, weights
        and store rows (per epoch, with batch losses) as any run, so predict, explain and
        serve load it like one; a failed or interrupted run is marked so (an interrupted
        one is not resumable: it has no optimizer state)."""
        info = {"experiment": self.name, "label": label}
        record = start_run(
            store, run_cfg, data_name=data.name, classes=list(data.classes), info=info
        )
        with tracked(store, record, resumable=False):
            result = fit(net, data, run_cfg.train, val_fraction=run_cfg.data.val_fraction)
            # after fit, as before the life cycle was shared: the claims' fit seconds
            # (small-data sets them against SVMs and forests) hold no disk writes
            record_fit(store, record, net, result.history)
        assert result.test is not None
        finish_run(
            store,
            record,
            test_accuracy=result.test.accuracy,
            seconds=result.train_seconds,
            device=result.device,
            info={**info, "sizes": result.sizes},
        )
        self.runs.append(record.id)
        return result


def subset(data: Dataset, n: int, seed: int) -> Dataset:
    """A stratified random subset of ``n`` training examples (same test set), seeded."""
    if n >= len(data.train_y):
        return data
    gen = np.random.default_rng(seed)
    labels = data.train_y.numpy()
    classes = np.unique(labels)
    per_class = {c: np.flatnonzero(labels == c) for c in classes}
    for idx in per_class.values():
        gen.shuffle(idx)
    # round-robin over classes so every class gets ⌊n/K⌋ or ⌈n/K⌉ examples
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n:
        for c in classes:
            if depth < len(per_class[c]) and len(chosen) < n:
                chosen.append(int(per_class[c][depth]))
        depth += 1
    index = torch.from_numpy(np.sort(np.array(chosen)))
    return dataclasses.replace(data, train_x=data.train_x[index], train_y=data.train_y[index])


def mean_std(values: Sequence[float]) -> str:
    """ "93.1 ± 0.4" in percent (± one standard deviation over seeds; none for one seed)."""
    arr = np.asarray(values, dtype=float) * 100
    if len(arr) < 2:
        return f"{arr.mean():.1f}"
    return f"{arr.mean():.1f} ± {arr.std(ddof=1):.1f}"


ExperimentFn = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Spec:
    name: str
    summary: str
    run: ExperimentFn


REGISTRY: dict[str, Spec] = {}


def register(name: str, summary: str) -> Callable[[ExperimentFn], ExperimentFn]:
    def deco(fn: ExperimentFn) -> ExperimentFn:
        REGISTRY[name] = Spec(name, summary, fn)
        return fn

    return deco


def run_experiment(
    name: str,
    *,
    seeds: int = 3,
    quick: bool = False,
    data: str | None = None,
    out_dir: Path | None = None,
    store: Store | None = None,
    log: Log = print,
    pretrained: Path | None = None,
) -> Report:
    """Run one registered experiment and write ``result.json`` and ``table.md`` beside its
    figure in ``out_dir`` (default ``experiments/NAME``)."""
    from threefigures import experiments  # registers every experiment

    if name not in REGISTRY:
        raise ConfigError(
            f"unknown experiment {name!r}; choose one of {', '.join(experiments.names())}, all"
        )
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    seed_list = [0] if quick else list(range(seeds))
    folder = (out_dir or Path("experiments")) / name
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        name=name,
        seeds=seed_list,
        quick=quick,
        out_dir=folder,
        store=store,
        data=data,
        log=log,
        pretrained=pretrained,
    )
    log(f"experiment {name}: {REGISTRY[name].summary}" + (" (quick)" if quick else ""))
    started = time.perf_counter()
    outcome = REGISTRY[name].run(ctx)
    command = f"threefigures experiment {name}" + (
        " --quick" if quick else f" --seeds {len(seed_list)}"
    )
    if data:
        command += f" --data {data}"
    report = Report(
        name=name,
        outcome=outcome,
        command=command,
        seeds=seed_list,
        quick=quick,
        seconds=time.perf_counter() - started,
        runs=list(ctx.runs),
        folder=folder,
    )
    atomic_write_text(folder / "result.json", json.dumps(report.to_dict(), indent=2))
    atomic_write_text(folder / "table.md", markdown_table(outcome.header, outcome.rows))
    log(f"verdict: {outcome.verdict.label} — {outcome.verdict.summary}")
    return report


def load_report(folder: Path) -> Report:
    """Rebuild a finished experiment's :class:`Report` from its ``result.json``."""
    try:
        raw = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        outcome = Outcome(
            claim=raw["claim"],
            question=raw["question"],
            header=tuple(raw["table"]["header"]),
            rows=[tuple(r) for r in raw["table"]["rows"]],
            figure=folder / raw["figure"],
            verdict=Verdict(**raw["verdict"]),
            comparisons=[Comparison(**c) for c in raw["comparisons"]],
            notes=list(raw["notes"]),
            numbers=dict(raw["numbers"]),
        )
        return Report(
            name=raw["name"],
            outcome=outcome,
            command=raw["command"],
            seeds=list(raw["seeds"]),
            quick=bool(raw["quick"]),
            seconds=float(raw["seconds"]),
            runs=list(raw["runs"]),
            folder=folder,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{folder}: no usable result.json ({exc})") from None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
