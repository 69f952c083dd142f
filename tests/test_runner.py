"""Runs in the store: interruption, resume, redraw, and the five-line Python API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from threefigures.errors import ThreeFiguresError
from threefigures.runner import resume_run, train_run
from threefigures.runs.store import Store

SMALL = RunConfig(
    data=DataConfig(name="sklearn-digits"),
    model=ModelConfig(layers=(32,)),
    train=TrainConfig(epochs=3, batch_size=32, device="cpu"),
)


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    straight = train_run(SMALL, store=Store(tmp_path / "a.db"))
    store = Store(tmp_path / "b.db")

    def ctrl_c_in_epoch_2(line: str) -> None:
        if line.strip().startswith("2 "):
            raise KeyboardInterrupt

    with pytest.raises(ThreeFiguresError, match=r"saved after 1 epoch.*--resume"):
        train_run(SMALL, store=store, log=ctrl_c_in_epoch_2)
    (run,) = store.list_runs()
    assert run.status == "interrupted" and run.epochs_done == 1
    assert (run.run_dir / "model.safetensors").exists()

    resumed = resume_run(run.id, store=store)
    assert resumed.run.status == "finished" and resumed.run.epochs_done == 3
    a = Store(tmp_path / "a.db").metrics(straight.run.id)
    b = store.metrics(run.id)
    assert [m["train_loss"] for m in a] == [m["train_loss"] for m in b]
    assert [m["val_accuracy"] for m in a] == [m["val_accuracy"] for m in b]
    assert resumed.test.accuracy == straight.test.accuracy
    assert len(store.batches(run.id)) == len(Store(tmp_path / "a.db").batches(straight.run.id))


def test_resume_can_extend_a_finished_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    first = train_run(SMALL, store=store)
    with pytest.raises(ThreeFiguresError, match="already finished"):
        resume_run(first.run.id, store=store)
    more = resume_run(first.run.id, store=store, epochs=4)
    assert more.run.epochs_done == 4 and [m["epoch"] for m in store.metrics(first.run.id)] == [
        1,
        2,
        3,
        4,
    ]


def test_sigint_in_a_real_process_marks_interrupted_and_resume_finishes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    env = {**os.environ, "THREEFIGURES_STORE": str(db)}
    cmd = [sys.executable, "-m", "threefigures", "train", "--data", "sklearn-digits", "--quiet"]
    proc = subprocess.Popen(
        [*cmd, "--epochs", "500", "--batch-size", "8", "--layers", "16"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    store = None
    while time.monotonic() < deadline:
        if db.exists():
            store = Store(db)
            runs = store.list_runs()
            if runs and runs[0].epochs_done >= 1:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("training never finished an epoch")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert store is not None
    (run,) = store.list_runs()
    assert run.status == "interrupted"
    done = run.epochs_done
    resumed = subprocess.run(
        [*cmd, "--resume", run.id, "--epochs", str(done + 1)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    run = store.get(run.id)
    assert run.status == "finished" and run.epochs_done == done + 1
    assert store.integrity_ok()


def test_five_line_python_api(tmp_path: Path) -> None:
    """The README's Python example, verbatim in spirit."""
    from threefigures import (
        ModelConfig,
        TrainConfig,
        create_model,
        draw_figures,
        fit,
        load_dataset,
        model_config_for,
    )

    data = load_dataset("sklearn-digits")
    model = create_model("mlp", model_config_for(data, ModelConfig(layers=(64,))))
    result = fit(model, data, TrainConfig(epochs=2))
    paths = draw_figures(model, data, result, tmp_path / "out")
    assert result.test is not None and result.test.accuracy > 0.8
    assert {"figure1", "figure2", "figure3", "report"} <= set(paths)
    assert all(p.exists() for p in paths.values())


def test_redraw_of_a_run_whose_folder_was_deleted(tmp_path: Path) -> None:
    import shutil

    from threefigures.runner import redraw

    store = Store(tmp_path / "s.db")
    outcome = train_run(SMALL, store=store)
    shutil.rmtree(outcome.run.run_dir)
    with pytest.raises(ThreeFiguresError, match="folder is missing"):
        redraw(outcome.run.id, store=store)
