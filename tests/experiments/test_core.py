"""The experiments' shared machinery: subsets, the small-data experiment in quick mode, the
claims page and the CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from threefigures.cli import main
from threefigures.experiments import names, run_claims, run_experiment
from threefigures.experiments.core import markdown_table, mean_std, subset
from threefigures.experiments.page import write_claims_page
from threefigures.runs.store import Store


def test_subset_is_stratified_seeded_and_keeps_the_test_set(synthetic) -> None:
    part = subset(synthetic, 100, seed=1)
    counts = np.bincount(part.train_y.numpy(), minlength=10)
    assert counts.tolist() == [10] * 10
    assert part.test_x is synthetic.test_x
    again = subset(synthetic, 100, seed=1)
    other = subset(synthetic, 100, seed=2)
    assert (again.train_x == part.train_x).all()
    assert not (other.train_x == part.train_x).all()
    assert subset(synthetic, 10_000, seed=0) is synthetic
    odd = subset(synthetic, 25, seed=0)
    assert sorted(np.bincount(odd.train_y.numpy()).tolist()) == [2] * 5 + [3] * 5


def test_formatting_helpers() -> None:
    assert mean_std([0.9]) == "90.0"
    assert mean_std([0.9, 0.92]) == "91.0 ± 1.4"
    assert markdown_table(("a", "b"), [(1, 2)]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"


def test_context_train_goes_through_the_run_life_cycle(synthetic, tmp_path: Path) -> None:
    """Each network an experiment trains is a run like any other: config.json, weights, a
    metrics row per epoch with its batch losses, and "finished" with the experiment's info."""
    from threefigures.config import TrainConfig
    from threefigures.experiments import Context
    from threefigures.models import default_config
    from threefigures.runs.folder import WEIGHTS_FILE

    store = Store(tmp_path / "db.sqlite")
    ctx = Context("test", seeds=[0], quick=True, out_dir=tmp_path, store=store, log=print)
    _model, result = ctx.train(synthetic, default_config("mlp"), TrainConfig(epochs=2), label="x")
    (record,) = store.list_runs()
    assert ctx.runs == [record.id] and record.status == "finished"
    assert record.info == {"experiment": "test", "label": "x", "sizes": result.sizes}
    assert (record.run_dir / WEIGHTS_FILE).exists() and (record.run_dir / "config.json").exists()
    assert [m["epoch"] for m in store.metrics(record.id)] == [1, 2]
    assert len(store.batches(record.id)) == len(result.history.batch_loss)


def test_context_train_marks_a_failed_run(synthetic, tmp_path: Path, monkeypatch) -> None:
    from threefigures.config import TrainConfig
    from threefigures.experiments import Context, core
    from threefigures.models import default_config

    def broken_fit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(core, "fit", broken_fit)
    store = Store(tmp_path / "db.sqlite")
    ctx = Context("test", seeds=[0], quick=True, out_dir=tmp_path, store=store, log=print)
    with pytest.raises(RuntimeError, match="boom"):
        ctx.train(synthetic, default_config("mlp"), TrainConfig(epochs=1), label="x")
    (record,) = store.list_runs()
    assert record.status == "failed" and "boom" in (record.error or "")
    assert ctx.runs == []


def test_every_article_claim_is_registered() -> None:
    assert names()[0] == "small-data"


@pytest.fixture(scope="module")
def small_data_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    store = Store(out / "db.sqlite")
    report = run_experiment("small-data", quick=True, out_dir=out, store=store, log=lambda _m: None)
    return report, store, out


def test_small_data_quick_writes_figure_table_verdict_and_runs(small_data_quick) -> None:
    report, store, out = small_data_quick
    folder = out / "small-data"
    with Image.open(folder / "small-data.png") as img:
        assert img.width > 400
    result = json.loads((folder / "result.json").read_text())
    assert result["verdict"]["label"] in ("holds", "does not hold here", "mixed")
    assert result["quick"] is True and result["seeds"] == [0]
    assert "| Model | n=100 | n=300 |" in (folder / "table.md").read_text()
    models = [row[0] for row in result["table"]["rows"]]
    assert models[:2] == ["MLP", "CNN"] and "SVM (RBF)" in models
    # every trained network is a finished run in the store (4 networks × 2 sizes + pretraining)
    runs = store.list_runs()
    assert len(runs) == len(report.runs) == 9
    assert all(r.status == "finished" and r.info["experiment"] == "small-data" for r in runs)
    assert all((r.run_dir / "model.safetensors").exists() for r in runs)
    # the verdict is the one the comparisons give
    outcomes = [c["outcome"] for c in result["comparisons"]]
    assert result["verdict"]["supports"] == outcomes.count("supports")


def test_experiment_runs_load_like_any_run(small_data_quick) -> None:
    """predict, explain and serve read an experiment's runs like any other."""
    from threefigures.runs.folder import load_model_from_folder

    _report, store, _out = small_data_quick
    for record in store.list_runs():
        _model, config, classes = load_model_from_folder(record.run_dir)
        assert config.model.name in ("mlp", "cnn") and len(classes) == 10


def test_a_report_reloads_from_its_result_json(small_data_quick) -> None:
    from threefigures.experiments.core import load_report

    report, _store, _out = small_data_quick
    again = load_report(report.folder)
    assert again.to_dict() == report.to_dict()
    assert again.outcome.figure.exists()


def test_cli_all_reuses_finished_experiments(small_data_quick, capsys) -> None:
    from threefigures.cli import main as cli_main

    _report, _store, out = small_data_quick
    code = cli_main(
        [
            "--store",
            str(out / "db.sqlite"),
            "experiment",
            "small-data",
            "--quick",
            "--out",
            str(out),
            "--reuse",
        ]
    )
    assert code == 0
    assert "small-data:" in capsys.readouterr().out


def test_run_claims_reuses_a_finished_quick_experiment(small_data_quick) -> None:
    """A result.json written in the same mode is read back, not run again."""
    report, store, out = small_data_quick
    runs_before = len(store.list_runs())
    said: list[str] = []
    reports, page = run_claims(
        "small-data", quick=True, out_dir=out, store=store, log=said.append, reuse=True
    )
    assert said == [f"experiment small-data: reusing {out / 'small-data' / 'result.json'}"]
    assert [r.to_dict() for r in reports] == [report.to_dict()]
    assert page is None  # one experiment: no claims page
    assert len(store.list_runs()) == runs_before  # nothing trained


def test_run_claims_all_reuses_and_writes_the_claims_page(
    small_data_quick, monkeypatch, tmp_path: Path
) -> None:
    import threefigures.experiments as experiments

    report, store, out = small_data_quick
    monkeypatch.setattr(experiments, "names", lambda: ["small-data"])
    said: list[str] = []
    reports, page = run_claims(
        "all", quick=True, out_dir=out, store=store, log=said.append, reuse=True
    )
    assert [r.name for r in reports] == ["small-data"] and len(said) == 1
    assert page == out / "claims.html" and report.outcome.verdict.label in page.read_text()


def test_only_a_result_in_the_same_mode_is_reused(small_data_quick, tmp_path: Path) -> None:
    from threefigures.experiments.claims import _finished

    _report, _store, out = small_data_quick
    assert _finished(out / "small-data", quick=True, seeds=5) is not None  # quick: 1 seed
    assert _finished(out / "small-data", quick=False, seeds=1) is None
    assert _finished(tmp_path / "small-data", quick=True, seeds=1) is None  # none there
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text("{not json")
    assert _finished(tmp_path / "broken", quick=True, seeds=1) is None


def test_claims_page_is_self_contained(small_data_quick, tmp_path: Path) -> None:
    report, _store, _out = small_data_quick
    page = write_claims_page([report], tmp_path / "claims.html").read_text()
    assert "data:image/png;base64," in page and "<script src" not in page
    assert "threefigures experiment small-data --quick" in page
    assert report.outcome.verdict.label in page


def test_cli_experiment_errors(tmp_path: Path, capsys) -> None:
    assert main(["--store", str(tmp_path / "db"), "experiment", "astrology", "--quick"]) == 1
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "db"), "experiment", "small-data", "--seeds", "0"]) == 1
    assert "--seeds" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    [
        "activations",
        "augmentation",
        "depth",
        "devices",
        "dropout",
        "losses",
        "small-data",
        "transfer",
    ],
)
def test_image_experiments_refuse_sequence_data(name: str, tmp_path: Path, capsys) -> None:
    """Every experiment trains on images: a names dataset is a one-line error (augmentation
    names the datasets whose mirror symmetry it knows)."""
    args = ["--store", str(tmp_path / "db"), "experiment", name, "--quick"]
    assert main([*args, "--data", "names-gender", "--out", str(tmp_path)]) == 1
    expected = (
        "needs a dataset whose mirror symmetry is known"
        if name == "augmentation"
        else "needs an image dataset"
    )
    assert f"the {name} experiment {expected}" in capsys.readouterr().err
