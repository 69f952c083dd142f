"""The "Looking inside" section end to end: figures per model kind, the report section,
and the CLI's ``explain``, ``inside`` and ``predict --explain``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import digit_image, run_cli
from threefigures.cli import main
from threefigures.config import ModelConfig
from threefigures.models import create_model
from threefigures.outputs.inside import inside_figures
from threefigures.runner import model_config_for

COMMON = {
    "inside-attribution",
    "inside-activations",
    "inside-embedding",
    "inside-confusion",
    "inside-top-losses",
}
EXPECTED = {
    "mlp": COMMON | {"inside-unit-weights", "inside-active-units"},
    "perceptron": COMMON | {"inside-unit-weights"},
    "cnn": COMMON | {"inside-gradcam", "inside-filters", "inside-feature-maps"},
    "rnn": COMMON | {"inside-gates"},
    "rnn-attention": COMMON | {"inside-gates", "inside-attention"},
}


def _config(kind: str, data) -> ModelConfig:
    base = {
        "mlp": ModelConfig(layers=(32,)),
        "perceptron": ModelConfig(name="perceptron"),
        "cnn": ModelConfig(name="cnn", channels=(4, 8), layers=(16,)),
        "rnn": ModelConfig(name="rnn", cell="lstm", hidden_size=16),
        "rnn-attention": ModelConfig(name="rnn", cell="gru", hidden_size=16, attention=True),
    }[kind]
    return model_config_for(data, base)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_inside_figures_for_every_model_kind(kind: str, synthetic, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(_config(kind, synthetic)).eval()
    if kind == "perceptron":
        with torch.no_grad():
            model.out.weight.normal_(0, 0.05)
    before = [p.detach().clone() for p in model.parameters()]
    result = inside_figures(model, synthetic, tmp_path, sample=60)
    assert set(result.paths()) == EXPECTED[kind]
    for fig in result.figures:
        assert fig.path.parent == tmp_path and fig.title and fig.caption
        with Image.open(fig.path) as img:
            assert img.width > 200 and img.height > 100, fig.key
    # looking inside never changes the model
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not model.training
    sep = result.numbers["separation"]
    assert "output" in sep and all(v is None or -1 <= v <= 1 for v in sep.values())


def test_trained_mlp_separates_classes_more_at_deeper_layers(synthetic, tmp_path: Path) -> None:
    """On learnable data the classes pull apart layer by layer (silhouette grows)."""
    from threefigures.config import TrainConfig
    from threefigures.training import fit

    torch.manual_seed(0)
    model = create_model(_config("mlp", synthetic))
    fit(model, synthetic, TrainConfig(epochs=2, device="cpu"))
    result = inside_figures(model, synthetic, tmp_path, sample=150)
    sep = result.numbers["separation"]
    assert sep["input"] < sep["hidden 1"] < sep["output"]


def test_inside_follows_a_given_input(synthetic, tmp_path: Path) -> None:
    model = create_model(_config("mlp", synthetic)).eval()
    image = np.zeros((28, 28), np.float32)
    image[5:20, 12:15] = 1.0
    result = inside_figures(model, synthetic, tmp_path, input_image=image, input_name="a one")
    assert result.numbers["attribution"]["method"] == "integrated-gradients"
    assert abs(result.numbers["attribution"]["delta"]) < 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("inside") / "runs" / "threefigures.db"
    args = ["train", "--data", "sklearn-digits", "--epochs", "2", "--layers", "64", "--quiet"]
    assert main(["--store", str(store), *args]) == 0
    return store


def test_every_report_has_a_looking_inside_section(trained: Path) -> None:
    from threefigures.runs.store import Store

    run = Store(trained).resolve("latest")
    report = (run.run_dir / "report.html").read_text()
    assert 'id="looking-inside"' in report
    for key in (
        "inside-attribution",
        "inside-unit-weights",
        "inside-embedding",
        "inside-top-losses",
    ):
        assert f'id="{key}"' in report
        assert (run.run_dir / "inside" / f"{key}.png").exists()
    assert "looking inside seconds" in report


def test_cli_explain_images(trained: Path, tmp_path: Path, capsys) -> None:
    img = digit_image(tmp_path / "seven.png")
    code, out, err = run_cli(
        [
            "--store",
            str(trained),
            "explain",
            str(img),
            str(tmp_path / "missing.png"),
            "--method",
            "occlusion",
            "--out",
            str(tmp_path / "ex"),
            "--json",
        ],
        capsys,
    )
    assert code == 1  # one bad file: exit 1, the good one still explained
    payload = json.loads(out)
    good, bad = payload["explanations"]
    assert Path(good["figure"]).exists() and good["class"] in [str(i) for i in range(10)]
    assert "missing.png" in bad["error"]
    code, out, err = run_cli(
        ["--store", str(trained), "explain", str(img), "--target", "3", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    assert "for class 3" in out and "completeness error" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "lime"], "unknown attribution method"),
        (["--method", "gradcam"], "convolutional"),
        (["--target", "12"], "out of range"),
    ],
)
def test_cli_explain_errors_are_one_line(
    trained: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    img = digit_image(tmp_path / "x.png")
    code, _out, err = run_cli(["--store", str(trained), "explain", str(img), *args], capsys)
    assert code == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_inside_with_an_input(trained: Path, tmp_path: Path, capsys) -> None:
    img = digit_image(tmp_path / "mine.png")
    out_dir = tmp_path / "inside"
    code, out, err = run_cli(
        [
            "--store",
            str(trained),
            "inside",
            "--input",
            str(img),
            "--sample",
            "100",
            "--out",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0, err
    assert "class separation (silhouette) by layer" in out
    assert len(list(out_dir.glob("inside-*.png"))) >= 7


def test_cli_predict_explain(trained: Path, tmp_path: Path, capsys) -> None:
    img = digit_image(tmp_path / "p.png")
    code, out, err = run_cli(
        [
            "--store",
            str(trained),
            "predict",
            str(img),
            "--explain",
            "--method",
            "saliency",
            "--explain-dir",
            str(tmp_path / "why"),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    pred = json.loads(out)["predictions"][0]
    assert pred["explanation"]["method"] == "saliency"
    assert Path(pred["explanation"]["figure"]).exists()


@pytest.mark.slow
def test_names_run_explained_per_character(tmp_path: Path, capsys) -> None:
    store = tmp_path / "db.sqlite"
    args = ["train", "--data", "names-gender", "--model", "rnn", "--cell", "gru"]
    assert main(["--store", str(store), *args, "--epochs", "1", "--attention", "--quiet"]) == 0
    capsys.readouterr()
    code, out, err = run_cli(
        ["--store", str(store), "explain", "Anna", "Robert", "--json", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    rows = json.loads(out)["explanations"]
    assert [r["class"] in ("female", "male") for r in rows] == [True, True]
    from threefigures.runs.store import Store

    run = Store(store).resolve("latest")
    for key in ("inside-attribution", "inside-gates", "inside-attention", "inside-embedding"):
        assert (run.run_dir / "inside" / f"{key}.png").exists(), key


def test_report_section_is_fast_for_the_figure1_mlp(synthetic, tmp_path: Path) -> None:
    """Not a timing assertion on the suite's wall clock: CPU time of the section, generous."""
    model = create_model(model_config_for(synthetic, ModelConfig())).eval()
    started = time.process_time()
    inside_figures(model, synthetic, tmp_path, sample=200)
    assert time.process_time() - started < 30
