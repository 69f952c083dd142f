"""losses, activations, devices and depth in quick mode, and their helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from threefigures.config import ModelConfig
from threefigures.experiments import run_experiment
from threefigures.experiments.activations import layer_gradient_norms
from threefigures.experiments.depth import TARGET, equal_width, mlp_params
from threefigures.models import create_model
from threefigures.store import Store


def test_equal_parameter_widths_hit_the_target() -> None:
    assert mlp_params((256,)) == TARGET == 203_530
    for depth in (1, 2, 4):
        widths = equal_width(depth)
        assert len(widths) == depth
        assert abs(mlp_params(widths) - TARGET) / TARGET < 0.02
        model = create_model(ModelConfig(layers=widths))
        assert sum(p.numel() for p in model.parameters()) == mlp_params(widths)


def test_gradient_norms_one_per_linear_layer_and_model_untouched() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(layers=(32,) * 6, activation="sigmoid"))
    before = [p.detach().clone() for p in model.parameters()]
    norms = layer_gradient_norms(model, torch.rand(16, 1, 28, 28), torch.arange(16) % 10)
    assert len(norms) == 7 and all(n > 0 for n in norms)
    assert norms[0] < norms[-1]  # sigmoid: the first layer gets far less gradient
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["losses", "activations", "devices", "depth"])
def test_experiment_quick_mode(name: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    report = run_experiment(name, quick=True, out_dir=tmp_path, store=store, log=lambda _m: None)
    folder = tmp_path / name
    with Image.open(folder / f"{name}.png") as img:
        assert img.width > 300
    result = json.loads((folder / "result.json").read_text())
    assert result["verdict"]["label"] in ("holds", "does not hold here", "mixed")
    assert (folder / "table.md").read_text().startswith("| ")
    runs = store.list_runs()
    assert runs and len(runs) == len(report.runs)
    assert all(r.status == "finished" for r in runs)
    if name == "devices" and not torch.cuda.is_available():
        assert any("No GPU was present" in n for n in result["notes"])
    if name == "losses":
        binary = [r for r in runs if r.config["data"]["binary"] == 3]
        assert binary and {r.config["train"]["loss"] for r in binary} == {"bce", "ce"}
