"""The command line, end to end: train → runs → predict → figures → evaluate, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import digit_image, run_cli
from threefigures.cli import main

TRAIN = ["train", "--data", "sklearn-digits", "--epochs", "2", "--layers", "64", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One small real run shared by the read-only tests below."""
    store = tmp_path_factory.mktemp("cli") / "runs" / "threefigures.db"
    assert main(["--store", str(store), *TRAIN]) == 0
    return store


def test_train_writes_three_figures_report_and_weights(trained: Path) -> None:
    from threefigures.runs.store import Store

    run = Store(trained).resolve("latest")
    assert run.status == "finished" and run.epochs_done == 2
    for name, min_width in (("figure1.png", 800), ("figure2.png", 600), ("figure3.png", 600)):
        with Image.open(run.run_dir / name) as img:
            assert img.width >= min_width and img.height >= 400, (name, img.size)
    report = (run.run_dir / "report.html").read_text()
    assert f"{100 * run.test_accuracy:.2f}%" in report
    assert "data:image/png;base64," in report and "<script src" not in report
    assert (run.run_dir / "model.safetensors").stat().st_size > 10_000
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["classes"] == [str(i) for i in range(10)]


def test_runs_lists_and_shows(trained: Path, capsys) -> None:
    code, out, _ = run_cli(["--store", str(trained), "runs"], capsys)
    assert code == 0 and "sklearn-digits" in out and "finished" in out and "2/2" in out
    code, out, _ = run_cli(["--store", str(trained), "runs", "show", "latest"], capsys)
    assert code == 0
    assert "epoch  train loss" in out
    lines = [line for line in out.splitlines() if line.strip().startswith(("1 ", "2 "))]
    assert len(lines) == 2


def test_predict_user_images(trained: Path, tmp_path: Path, capsys) -> None:
    files = [
        digit_image(tmp_path / "dark_on_light.png"),
        digit_image(tmp_path / "light_on_dark.png", dark_on_light=False),
        digit_image(tmp_path / "rgba.png", mode="RGBA"),
        digit_image(tmp_path / "offcentre.jpg", offset=(80, -70)),
        digit_image(tmp_path / "big.jpg", size=(4000, 3000)),
    ]
    shown = tmp_path / "seen"
    code, out, err = run_cli(
        [
            "--store",
            str(trained),
            "predict",
            *map(str, files),
            "--json",
            "--show-input",
            str(shown),
        ],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert len(payload["predictions"]) == 5
    for pred in payload["predictions"]:
        assert pred["class"] in [str(i) for i in range(10)]
        assert len(pred["top"]) == 3
        assert sum(pred["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert payload["predictions"][0]["inverted"] is True
    assert payload["predictions"][1]["inverted"] is False
    written = sorted(shown.glob("*.png"))
    assert len(written) == 5
    for path in written:
        with Image.open(path) as img:
            assert img.size == (28, 28)
    # the same digit dark-on-light and light-on-dark is seen identically
    a = np.asarray(Image.open(written[0]), dtype=float)
    b = np.asarray(Image.open(written[1]), dtype=float)
    assert np.abs(a - b).mean() < 8


def test_predict_plain_output_and_bad_files(trained: Path, tmp_path: Path, capsys) -> None:
    good = digit_image(tmp_path / "ok.png")
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image")
    tiny = tmp_path / "tiny.png"
    Image.new("L", (1, 1), 255).save(tiny)
    code, out, err = run_cli(
        ["--store", str(trained), "predict", str(good), str(fake), str(tiny)], capsys
    )
    assert code == 1  # some files failed
    assert "ok.png:" in out and "%" in out
    errors = err.strip().splitlines()
    assert len(errors) == 2
    assert "not an image" in errors[0]
    assert "no ink" in errors[1]
    assert "Traceback" not in err


def test_figures_redraws(trained: Path, capsys) -> None:
    from threefigures.runs.store import Store

    run = Store(trained).resolve("latest")
    before = (run.run_dir / "figure2.png").stat().st_mtime_ns
    code, out, _ = run_cli(["--store", str(trained), "figures", "--run", run.id], capsys)
    assert code == 0 and "report" in out
    assert (run.run_dir / "figure2.png").stat().st_mtime_ns > before


def test_evaluate_json_and_on_a_folder(trained: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(["--store", str(trained), "evaluate", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 360
    assert np.array(result["confusion"]).sum() == 360
    assert 0 <= result["accuracy"] <= 1
    # a user's folder with ten classes scores too; with two classes it is a clear error
    for label in range(10):
        folder = tmp_path / "mine" / str(label)
        folder.mkdir(parents=True)
        for i in range(2):
            digit_image(folder / f"{i}.png", offset=(i * 10, 0))
    code, out, err = run_cli(
        [
            "--store",
            str(trained),
            "evaluate",
            "--data",
            f"folder:{tmp_path / 'mine'}",
            "--split",
            "all",
        ],
        capsys,
    )
    assert code == 0, err
    assert "accuracy" in out and "(all, 20 images)" in out
    two = tmp_path / "two"
    for label in ("a", "b"):
        (two / label).mkdir(parents=True)
        digit_image(two / label / "x.png")
        digit_image(two / label / "y.png", offset=(5, 5))
    code, _, err = run_cli(["--store", str(trained), "evaluate", "--data", f"folder:{two}"], capsys)
    assert code == 1 and "predicts 10 classes" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "epochs must be at least 1"),
        (["--epochs", "-3"], "epochs must be at least 1"),
        (["--lr", "nan"], "learning rate"),
        (["--batch-size", "100000"], "larger than the"),
        (["--data", "no-such-data"], "unknown dataset"),
        (["--model", "transformer"], "unknown model"),
        (["--activation", "swish"], "unknown activation"),
        (["--optimizer", "rmsprop"], "unknown optimizer"),
        (["--layers", "12,x"], "--layers"),
        (["--resume", "no-such-run"], "no run 'no-such-run'"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys, args, message) -> None:
    store = tmp_path / "s.db"
    code, _out, err = run_cli(
        ["--store", str(store), "train", "--data", "sklearn-digits", "--quiet", *args], capsys
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    from threefigures.runs.store import Store

    assert Store(store).list_runs() == []  # nothing half-written


def test_resume_of_a_finished_run_is_refused(trained: Path, capsys) -> None:
    code, _, err = run_cli(
        ["--store", str(trained), "train", "--resume", "latest", "--quiet"], capsys
    )
    assert code == 1 and "error:" in err
    from threefigures.runs.store import Store

    run_id = Store(trained).resolve("latest").id
    code, _, err = run_cli(
        ["--store", str(trained), "train", "--resume", run_id, "--quiet"], capsys
    )
    assert code == 1 and "already finished" in err


def test_no_runs_yet_is_a_clear_error(tmp_path: Path, capsys) -> None:
    img = digit_image(tmp_path / "a.png")
    code, _, err = run_cli(["--store", str(tmp_path / "empty.db"), "predict", str(img)], capsys)
    assert code == 1 and "no finished run" in err


def test_seeded_training_is_deterministic_from_the_cli(tmp_path: Path, capsys) -> None:
    outputs = []
    for i in range(2):
        code, out, _ = run_cli(
            ["--store", str(tmp_path / f"{i}.db"), *TRAIN, "--epochs", "1", "--seed", "5"], capsys
        )
        assert code == 0
        # epoch, loss and validation accuracy; the last column is seconds
        outputs.append(
            [line.split()[:3] for line in out.splitlines() if line.strip().startswith("1 ")]
        )
    assert outputs[0] == outputs[1] and outputs[0]


def test_console_script_and_debug_flag(tmp_path: Path) -> None:
    """Through a real subprocess: exit codes, one-line errors, tracebacks only with --debug."""
    env = {**os.environ, "THREEFIGURES_STORE": str(tmp_path / "s.db")}
    cmd = [sys.executable, "-m", "threefigures"]
    proc = subprocess.run([*cmd, "train", "--epochs", "0"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: epochs must be at least 1, got 0"
    proc = subprocess.run(
        [*cmd, "--debug", "train", "--epochs", "0"], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([*cmd, "models"], capture_output=True, text=True, env=env)
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and {"perceptron", "mlp", "cnn", "rnn"} <= set(names)
    proc = subprocess.run(
        [*cmd, "train", "--no-such-option"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2


@pytest.mark.slow
def test_predict_on_real_digits_photographed_as_dark_ink_on_paper(tmp_path: Path) -> None:
    """Real held-out digits, saved as large dark-on-light RGB images with a margin and an
    offset (as a user's scan would be), go through predict's MNIST-style preprocessing;
    the model must still read them about as well as the original 28×28 test images."""
    import torch

    from threefigures.config import RunConfig
    from threefigures.data import load_dataset
    from threefigures.runner import predict_images, train_run
    from threefigures.runs.store import Store
    from threefigures.training import predict_proba

    data = load_dataset("digits")
    outcome = train_run(RunConfig(), store=Store(tmp_path / "s.db"), data=data)
    model, classes = outcome_model(outcome)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(data.test_y), size=60, replace=False)
    files = []
    for k, i in enumerate(picks):
        digit = data.test_x[int(i)].numpy()
        big = Image.fromarray(255 - digit).resize((168, 168), Image.Resampling.BILINEAR)
        page = Image.new("RGB", (400, 300), (240, 238, 230))
        page.paste(big.convert("RGB"), (40 + 3 * (k % 30), 50 + 2 * (k % 20)))
        path = tmp_path / f"{k}.jpg"
        page.save(path, quality=90)
        files.append(path)
    preds = predict_images(files, model, classes)
    labels = data.test_y[torch.from_numpy(picks)].numpy()
    ours = np.mean([int(p.class_name or -1) == y for p, y in zip(preds, labels, strict=True)])
    direct = predict_proba(model, data.test_x[torch.from_numpy(picks)]).argmax(1).numpy()
    baseline = np.mean(direct == labels)
    assert all(p.inverted for p in preds)
    assert ours >= baseline - 0.07, (ours, baseline)


def outcome_model(outcome):
    from threefigures.runs.folder import load_model_from_folder

    model, _config, classes = load_model_from_folder(outcome.run.run_dir)
    return model, classes


def test_augment_preview_export_and_bench_devices_commands(
    trained: Path, tmp_path: Path, capsys
) -> None:
    """The networks-issue commands from the CLI: a preview grid, an ONNX file checked
    against torch, and the device timing figure (tiny sizes here; the real one is slow)."""
    pytest.importorskip("onnxruntime")
    preview = tmp_path / "preview.png"
    code, out, err = run_cli(
        [
            "augment-preview",
            "--data",
            "sklearn-digits",
            "--augment",
            "rotate,shift",
            "--n",
            "4",
            "--copies",
            "2",
            "--out",
            str(preview),
        ],
        capsys,
    )
    assert code == 0, err
    with Image.open(preview) as img:
        assert img.width >= 300 and np.asarray(img.convert("L")).std() > 5
    onnx_path = tmp_path / "m.onnx"
    code, out, err = run_cli(["--store", str(trained), "export", "--onnx", str(onnx_path)], capsys)
    assert code == 0, err
    assert onnx_path.stat().st_size > 1000 and "max |diff|" in out
    figure = tmp_path / "devices.png"
    code, out, err = run_cli(
        ["bench-devices", "--batch-sizes", "8,16", "--steps", "1", "--out", str(figure)], capsys
    )
    assert code == 0, err
    assert figure.exists() and "cpu (1 thread)" in out
    if not __import__("torch").cuda.is_available():
        assert "no GPU on this machine" in out


def test_help_does_not_import_torch() -> None:
    """`threefigures --help` (and a command's --help) starts without torch or NumPy: every
    command imports the library inside its body."""
    code = (
        "import sys\n"
        "from threefigures.cli import main\n"
        "assert main(['--help']) == 0 and main(['train', '--help']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'matplotlib', 'PIL') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: threefigures" in proc.stdout
    assert "HEAVY []" in proc.stdout, proc.stdout.splitlines()[-1]


@pytest.fixture
def captured_train(monkeypatch) -> list:
    """`train` without training: the RunConfig it would train is kept here."""
    import threefigures.runner

    configs: list = []

    def fake_train_run(config, **_kwargs):
        configs.append(config)  # None below: as for a torchrun worker rank, nothing printed

    monkeypatch.setattr(threefigures.runner, "train_run", fake_train_run)
    return configs


def test_train_defaults_are_the_configs_defaults(tmp_path: Path, captured_train, capsys) -> None:
    from threefigures.config import RunConfig
    from threefigures.models import default_config

    store = ["--store", str(tmp_path / "s.db")]
    assert run_cli([*store, "train"], capsys)[0] == 0
    assert captured_train[-1] == RunConfig()
    # --layers unset: the model's registered default (the CNN's 128-unit head)
    assert run_cli([*store, "train", "--model", "cnn"], capsys)[0] == 0
    assert captured_train[-1].model == default_config("cnn")
    assert captured_train[-1].model.layers == (128,)
    assert run_cli([*store, "train", "--model", "cnn", "--layers", "64,32"], capsys)[0] == 0
    assert captured_train[-1].model == default_config("cnn", layers=(64, 32))
    code, _out, _err = run_cli(
        [*store, "train", "--augment", "rotate, shift", "--epochs", "5"], capsys
    )
    assert code == 0
    assert captured_train[-1].train.augment == ("rotate", "shift")
    assert captured_train[-1].train.epochs == 5


def test_a_dataset_sets_its_own_defaults_where_the_user_did_not(
    tmp_path: Path, captured_train, capsys
) -> None:
    """names-gender's RNN is a bidirectional GRU for 12 epochs (data/names.py: the shared
    defaults scored 86% against a target of 88%); anything given on the command line wins."""
    store = ["--store", str(tmp_path / "s.db")]
    bare = [*store, "train", "--model", "rnn", "--data", "names-gender"]
    assert run_cli(bare, capsys)[0] == 0
    config = captured_train[-1]
    assert (config.model.cell, config.model.bidirectional, config.train.epochs) == ("gru", True, 12)
    given = [*bare, "--cell", "lstm", "--one-direction", "--epochs", "2"]
    assert run_cli(given, capsys)[0] == 0
    config = captured_train[-1]
    assert (config.model.cell, config.model.bidirectional, config.train.epochs) == (
        "lstm",
        False,
        2,
    )
    # other datasets and models keep the shared defaults
    assert run_cli([*store, "train", "--model", "rnn"], capsys)[0] == 0
    config = captured_train[-1]
    assert (config.model.cell, config.model.bidirectional, config.train.epochs) == (
        "lstm",
        False,
        3,
    )


@pytest.mark.parametrize("command", ["train", "augment-preview"])
def test_unknown_augmentation_is_a_one_line_error(tmp_path: Path, command: str, capsys) -> None:
    args = ["--store", str(tmp_path / "s.db"), command, "--augment", "flip,spin"]
    code, _out, err = run_cli([*args, "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert err.strip() == (
        "error: unknown augmentation 'spin'; choose from flip, rotate, brightness, shift"
    )
    assert not (tmp_path / "out").exists()


def test_a_names_run_prints_its_majority_baseline_beside_the_accuracy(
    tmp_path: Path, capsys
) -> None:
    args = ["--store", str(tmp_path / "s.db"), "train", "--data", "names-gender"]
    code, out, _err = run_cli([*args, "--model", "rnn", "--epochs", "1", "--quiet"], capsys)
    assert code == 0
    (line,) = [ln for ln in out.splitlines() if ln.startswith("test accuracy:")]
    assert "(majority-class baseline " in line
