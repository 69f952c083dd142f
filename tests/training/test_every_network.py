"""Every network and technique through the real training loop and the runs store."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from threefigures.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from threefigures.data import make_binary
from threefigures.errors import ConfigError, ThreeFiguresError
from threefigures.models import create_model
from threefigures.runner import model_config_for, resume_run, train_run
from threefigures.runs.store import Store
from threefigures.training import fit

FAST = TrainConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu")
SMALL_MODELS = {
    "perceptron": ModelConfig(name="perceptron"),
    "mlp": ModelConfig(name="mlp", layers=(32,)),
    "cnn": ModelConfig(name="cnn", channels=(8, 16), layers=(32,)),
    "rnn": ModelConfig(name="rnn", cell="gru", hidden_size=32),
}


def _fit(data, model_cfg: ModelConfig, train_cfg: TrainConfig = FAST, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model(model_cfg.name, model_config_for(data, model_cfg, loss=train_cfg.loss))
    return model, fit(model, data, dataclasses.replace(train_cfg, seed=seed))


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_every_model_learns_the_synthetic_task(synthetic, name: str) -> None:
    cfg = {
        "perceptron": dataclasses.replace(FAST, lr=1.0),
        "rnn": dataclasses.replace(FAST, epochs=6, lr=1e-2),  # recurrence needs more steps
    }.get(name, FAST)
    _model, result = _fit(synthetic, SMALL_MODELS[name], cfg)
    target = 0.8 if name == "rnn" else 0.9  # chance is 0.1; the RNN sees rows one at a time
    assert result.test is not None and result.test.accuracy >= target, (name, result.test.accuracy)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_multiclass_losses_learn(synthetic, loss: str) -> None:
    cfg = dataclasses.replace(FAST, loss=loss, lr=1e-2 if loss == "mse" else 3e-3)
    _model, result = _fit(synthetic, SMALL_MODELS["mlp"], cfg)
    assert result.test.accuracy >= 0.9, (loss, result.test.accuracy)


def test_bce_with_a_sigmoid_output_on_a_binary_task(synthetic) -> None:
    data = make_binary(synthetic, 3)
    assert data.classes == ["not c3", "c3"] and set(data.train_y.tolist()) == {0, 1}
    model, result = _fit(data, SMALL_MODELS["mlp"], dataclasses.replace(FAST, loss="bce"))
    assert model.out.out_features == 1  # one sigmoid output
    assert result.test.probabilities.shape[1] == 2
    assert abs(result.test.probabilities.sum(1) - 1).max() < 1e-5
    assert result.test.accuracy >= 0.95


def test_a_loss_that_does_not_fit_is_a_clear_error(synthetic) -> None:
    with pytest.raises(ConfigError, match=r"bce needs a binary task.*10 classes"):
        _fit(synthetic, SMALL_MODELS["mlp"], dataclasses.replace(FAST, loss="bce"))


@pytest.mark.parametrize("schedule", ["step", "one-cycle", "cosine", "constant"])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_optimizers_and_schedules(synthetic, schedule: str, optimizer: str) -> None:
    cfg = dataclasses.replace(
        FAST,
        schedule=schedule,
        optimizer=optimizer,
        lr=0.05 if optimizer == "sgd" else 3e-3,
        nesterov=optimizer == "sgd",
        weight_decay=1e-4,
        grad_clip=1.0,
    )
    _model, result = _fit(synthetic, SMALL_MODELS["mlp"], cfg)
    assert result.test.accuracy >= 0.85, (schedule, optimizer, result.test.accuracy)


def test_step_schedule_decays_per_epoch(synthetic) -> None:
    from threefigures.training import make_optimizer, make_scheduler

    model = create_model("mlp", ModelConfig(layers=(4,)))
    cfg = TrainConfig(schedule="step", step_size=2, gamma=0.1, lr=1.0, epochs=6)
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    sched = make_scheduler(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert (
        lrs[0] == lrs[9] == 1.0 and lrs[10] == pytest.approx(0.1) and lrs[20] == pytest.approx(0.01)
    )


def test_gradient_clipping_changes_training(synthetic) -> None:
    # plain SGD: Adam would rescale the clipped gradients back to full-size steps
    sgd = dataclasses.replace(FAST, optimizer="sgd", lr=0.05, momentum=0.0)
    _m, a = _fit(synthetic, SMALL_MODELS["mlp"], dataclasses.replace(sgd, grad_clip=1e-3))
    _m, b = _fit(synthetic, SMALL_MODELS["mlp"], sgd)
    assert a.history.batch_loss != b.history.batch_loss
    assert a.history.epoch_loss[-1] > b.history.epoch_loss[-1]  # tiny steps learn slower


def test_early_stopping_stops_when_validation_stalls(synthetic) -> None:
    cfg = dataclasses.replace(FAST, epochs=10, lr=1e-12, early_stopping=2, schedule="constant")
    _m, result = _fit(synthetic, SMALL_MODELS["mlp"], cfg)
    assert result.stopped_early and result.history.epoch == [1, 2, 3]


def test_augmentation_in_training_is_seeded_and_changes_batches(synthetic) -> None:
    aug = dataclasses.replace(FAST, augment=("rotate", "shift", "brightness"))
    _m, a = _fit(synthetic, SMALL_MODELS["mlp"], aug)
    _m, b = _fit(synthetic, SMALL_MODELS["mlp"], aug)
    _m, plain = _fit(synthetic, SMALL_MODELS["mlp"], FAST)
    assert a.history.batch_loss == b.history.batch_loss
    assert a.history.batch_loss != plain.history.batch_loss
    assert a.test.accuracy >= 0.85


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_resume_for_each_model(tmp_path: Path, name: str) -> None:
    """Interrupt after epoch 1 of 3, resume: the same losses as an uninterrupted run."""
    lr = 1.0 if name == "perceptron" else 3e-3
    config = RunConfig(
        data=DataConfig(name="sklearn-digits"),
        model=SMALL_MODELS[name],
        train=TrainConfig(epochs=3, batch_size=64, lr=lr, device="cpu"),
    )
    straight = train_run(config, store=Store(tmp_path / "a.db"))
    store = Store(tmp_path / "b.db")

    def ctrl_c(line: str) -> None:
        if line.strip().startswith("2 "):
            raise KeyboardInterrupt

    with pytest.raises(ThreeFiguresError, match="interrupted"):
        train_run(config, store=store, log=ctrl_c)
    (run,) = store.list_runs()
    resumed = resume_run(run.id, store=store)
    a = [m["train_loss"] for m in Store(tmp_path / "a.db").metrics(straight.run.id)]
    b = [m["train_loss"] for m in store.metrics(run.id)]
    assert a == b and resumed.test.accuracy == straight.test.accuracy
    assert (run.run_dir / "figure1.png").exists() and (run.run_dir / "report.html").exists()


def test_cnn_and_rnn_runs_draw_block_figures(tmp_path: Path) -> None:
    from PIL import Image

    for cfg in (SMALL_MODELS["cnn"], SMALL_MODELS["rnn"]):
        config = RunConfig(
            data=DataConfig(name="sklearn-digits"),
            model=cfg,
            train=dataclasses.replace(FAST, epochs=1),
        )
        outcome = train_run(config, store=Store(tmp_path / "s.db"))
        report = (outcome.run.run_dir / "report.html").read_text()
        assert "Output shape" in report  # the block table under Figure 1
        with Image.open(outcome.paths["figure1"]) as img:
            assert img.width >= 800


def test_perceptron_report_tells_its_history(tmp_path: Path) -> None:
    config = RunConfig(
        data=DataConfig(name="sklearn-digits"),
        model=ModelConfig(name="perceptron"),
        train=dataclasses.replace(FAST, lr=1.0, epochs=1),
    )
    outcome = train_run(config, store=Store(tmp_path / "s.db"))
    report = (outcome.run.run_dir / "report.html").read_text()
    assert "1958" in report and "XOR" in report
    assert outcome.test.accuracy > 0.7  # one pass of the perceptron rule; chance is 0.1


def test_names_gender_and_names_next_train_and_generate(tmp_path: Path, capsys) -> None:
    pytest.importorskip("names")
    from threefigures.cli import main

    db = str(tmp_path / "s.db")
    common = [
        "--store",
        db,
        "train",
        "--model",
        "rnn",
        "--cell",
        "gru",
        "--hidden-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--quiet",
    ]
    assert main([*common, "--data", "names-gender", "--bidirectional"]) == 0
    run = Store(db).resolve("latest")
    report = (run.run_dir / "report.html").read_text()
    assert "majority-class baseline" in report
    assert main([*common, "--data", "names-next"]) == 0
    capsys.readouterr()
    assert main(["--store", db, "generate", "--n", "5", "--seed", "1", "--prefix", "ma"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 5 and all(n.lower().startswith("ma") for n in names)
    assert main(["--store", db, "generate", "--temperature", "0"]) == 1


@pytest.mark.slow
def test_names_gender_bidirectional_gru_beats_the_majority_baseline(tmp_path: Path) -> None:
    """The issue's target: ≥ 0.88 against a majority baseline of ~0.78-0.81."""
    pytest.importorskip("names")
    config = RunConfig(
        data=DataConfig(name="names-gender"),
        model=ModelConfig(name="rnn", cell="gru", hidden_size=64, bidirectional=True),
        train=TrainConfig(epochs=12, batch_size=64, lr=3e-3, device="cpu", grad_clip=1.0),
    )
    outcome = train_run(config, store=Store(tmp_path / "s.db"))
    assert outcome.test.accuracy >= 0.88, outcome.test.accuracy


@pytest.mark.slow
def test_ddp_two_processes_agree_and_match_one_process(tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo): identical weights on both ranks, accuracy close
    to a single-process run, and only rank 0 writes the store."""
    db = tmp_path / "s.db"
    env = {**os.environ, "THREEFIGURES_STORE": str(db), "OMP_NUM_THREADS": "1"}
    args = [
        "train",
        "--data",
        "sklearn-digits",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--layers",
        "64",
        "--quiet",
    ]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            "-m",
            "threefigures",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = Store(db)
    (run,) = store.list_runs()  # rank 1 wrote nothing
    assert run.status == "finished"
    assert run.info["world_size"] == 2 and run.info["ranks_agree"] is True
    single = train_run(
        RunConfig(
            data=DataConfig(name="sklearn-digits"),
            model=ModelConfig(layers=(64,)),
            train=TrainConfig(epochs=3, batch_size=32, device="cpu"),
        ),
        store=Store(tmp_path / "single.db"),
    )
    assert abs(run.test_accuracy - single.test.accuracy) <= 0.05
