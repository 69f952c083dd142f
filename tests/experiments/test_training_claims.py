"""The losses, activations, devices and depth experiments in quick mode — each writes its
figure, table and verdict and stores every network it trains — and their helpers: the
equal-parameter width solver, per-layer gradient norms, epochs to a threshold, epoch
timing, and the figure panels they draw with."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import check_experiment_written
from threefigures.config import ModelConfig
from threefigures.experiments import run_experiment
from threefigures.experiments.activations import fixed_batch, layer_gradient_norms
from threefigures.experiments.depth import equal_param_width, mlp_param_count
from threefigures.experiments.devices import epoch_time, targets
from threefigures.experiments.losses import epochs_to_reach
from threefigures.figures.claims_more import Panel, Series, draw_panels, draw_ratio_bars
from threefigures.models import create_model
from threefigures.runs.store import Store


def _quiet(_msg: str) -> None:
    pass


def _run(name: str, out: Path) -> tuple[dict, Store]:
    store = Store(out / "db.sqlite")
    run_experiment(name, quick=True, out_dir=out, store=store, log=_quiet)
    return check_experiment_written(name, out, store), store


# --- the experiments in quick mode ----------------------------------------------------------


@pytest.mark.slow
def test_losses_quick(tmp_path: Path) -> None:
    result, store = _run("losses", tmp_path)
    runs = store.list_runs()
    assert len(runs) == 6  # CE and MSE under Adam and SGD; BCE and two-class CE on the binary task
    labels = [c["label"] for c in result["comparisons"]]
    assert len(labels) == 5 and sum("epoch 1" in lab for lab in labels) == 2
    bce = [r for r in runs if r.config["train"]["loss"] == "bce"]
    assert len(bce) == 1
    assert bce[0].config["model"]["num_classes"] == 1  # one sigmoid output
    assert bce[0].config["data"]["binary"] == result["numbers"]["positive_class"]
    mse = [r for r in runs if r.config["train"]["loss"] == "mse"]
    assert {r.config["train"]["optimizer"] for r in mse} == {"adam", "sgd"}
    curves = result["numbers"]["runs"]["multi / ce / Adam"]["val_accuracy"]
    assert len(curves) == 1 and len(curves[0]) == result["numbers"]["epochs"]


@pytest.mark.slow
def test_activations_quick(tmp_path: Path) -> None:
    result, store = _run("activations", tmp_path)
    assert len(store.list_runs()) == 4
    init = result["numbers"]["gradient_norms_init"]
    assert set(init) == {"sigmoid", "tanh", "relu", "gelu"}
    assert all(len(per_seed) == 1 and len(per_seed[0]) == 7 for per_seed in init.values())
    # the textbook picture at initialisation: sigmoid's first layer starves, ReLU's does not
    ratio = {a: init[a][0][0] / init[a][0][-1] for a in init}
    assert ratio["sigmoid"] < 1e-3 < ratio["relu"]
    grad = [c for c in result["comparisons"] if "gradient" in c["label"]]
    assert len(grad) == 2 and all(c["outcome"] == "supports" for c in grad)


@pytest.mark.slow
def test_devices_quick(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    result, store = _run("devices", tmp_path)
    assert torch.get_num_threads() == threads  # restored
    assert len(store.list_runs()) == 2 * len(targets())  # MLP and CNN on every target
    seconds = result["numbers"]["seconds_per_epoch"]
    times = [s for per in seconds.values() for v in per.values() for t in v.values() for s in t]
    assert times and all(s > 0 for s in times)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert result["numbers"]["gpu_tested"] is False
        assert "No GPU was present" in result["verdict"]["summary"]
        assert any("NOT tested" in n for n in result["notes"])
        assert all("no GPU here" in c["label"] for c in result["comparisons"])


@pytest.mark.slow
def test_devices_quick_with_an_accelerator_compares_it_with_all_cpu_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU branch, exercised without a GPU: a stand-in "accelerator" that trains on the
    CPU. The comparisons are then accelerator vs all CPU threads, and nothing says no GPU."""
    import threefigures.experiments.devices as devices

    fake = [
        devices.Target("stand-in GPU", "cpu", 1, True),
        devices.Target("CPU, 1 thread", "cpu", 1, False),
        devices.Target("CPU, 2 threads", "cpu", 2, False),
    ]
    monkeypatch.setattr(devices, "targets", lambda: fake)
    result, store = _run("devices", tmp_path)
    assert len(store.list_runs()) == 2 * len(fake)
    assert result["numbers"]["gpu_tested"] is True
    assert result["numbers"]["gpu"] == "stand-in GPU"
    labels = [c["label"] for c in result["comparisons"]]
    assert len(labels) == 2 and all("stand-in GPU vs CPU, 2 threads" in lab for lab in labels)
    assert "No GPU" not in result["verdict"]["summary"]
    assert result["notes"][0].startswith("GPU: stand-in GPU")


@pytest.mark.slow
def test_depth_quick(tmp_path: Path) -> None:
    result, store = _run("depth", tmp_path)
    runs = store.list_runs()
    assert len(runs) == 4
    target = result["numbers"]["target_parameters"]
    assert target == 203_530
    for count in result["numbers"]["parameters"].values():
        assert abs(count - target) <= 0.02 * target
    depths = sorted(len(r.config["model"]["layers"]) for r in runs)
    assert depths == [1, 2, 4, 8]
    assert len(result["comparisons"]) == 3


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6, 8, 12])
def test_equal_param_width_hits_the_target_within_2_percent(depth: int) -> None:
    target = mlp_param_count(784, (256,), 10)
    assert target == 203_530
    width = equal_param_width(depth, target)
    count = mlp_param_count(784, (width,) * depth, 10)
    assert abs(count - target) <= 0.02 * target
    # the closest integer width: one more or one fewer unit is no closer
    for other in (width - 1, width + 1):
        assert abs(mlp_param_count(784, (other,) * depth, 10) - target) >= abs(count - target)
    model = create_model(ModelConfig(name="mlp", layers=(width,) * depth))
    assert sum(p.numel() for p in model.parameters()) == count  # the formula is the model's


def test_equal_param_width_one_layer_is_the_figure_1_network_and_bad_targets_fail() -> None:
    assert equal_param_width(1, 203_530) == 256
    assert equal_param_width(2, 203_530) == 204
    with pytest.raises(ValueError, match="within"):
        equal_param_width(8, 1_000)  # even width 1 has more parameters than that
    with pytest.raises(ValueError, match="depth"):
        equal_param_width(0, 203_530)


def test_layer_gradient_norms_one_per_linear_layer_and_model_untouched(synthetic) -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="mlp", layers=(32, 16, 8), activation="sigmoid"))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = fixed_batch(synthetic, 64)
    norms = layer_gradient_norms(model, x, y)
    assert len(norms) == 4  # three hidden layers and the output layer
    assert all(math.isfinite(n) and n > 0 for n in norms)
    assert not model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # gradients cleared
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert layer_gradient_norms(model, x, y) == norms  # same batch, same numbers
    again_x, again_y = fixed_batch(synthetic, 64)
    assert torch.equal(again_x, x) and torch.equal(again_y, y)


def test_epochs_to_reach_and_epoch_time() -> None:
    assert epochs_to_reach([0.5, 0.91, 0.95], 0.9) == 2
    assert epochs_to_reach([0.95], 0.9) == 1
    assert epochs_to_reach([0.5, 0.6], 0.9) is None
    assert epoch_time([5.0, 1.0, 2.0]) == 1.5  # the warm-up epoch is left out
    assert epoch_time([3.0]) == 3.0
    with pytest.raises(ValueError):
        epoch_time([])


def test_targets_always_include_one_and_several_cpu_threads() -> None:
    found = targets()
    assert any(t.device == "cpu" and t.threads == 1 for t in found)
    assert any(t.device == "cpu" and (t.threads or 0) >= 2 for t in found)
    assert sum(t.accelerator for t in found) <= 1


def test_claims_more_figures(tmp_path: Path) -> None:
    panels = [
        Panel("a", [Series("x", [1, 2], [0.5, 0.7], [0.01, 0.02])], "epoch", "acc", percent=True),
        Panel(
            "b",
            [Series("x", [1, 2, 3], [1e-4, 1e-2, 1.0], [1e-4, 1e-2, 2.0], dashed=True)],
            "layer",
            "norm",
            logy=True,
            xticks=[1, 2, 3],
            xticklabels=["1", "2", "out"],
        ),
    ]
    path = draw_panels(panels, tmp_path / "p.png", title="t", subtitle="s")
    with Image.open(path) as img:
        assert img.width > 400
    with pytest.raises(ValueError, match="positive"):
        draw_panels(
            [Panel("c", [Series("x", [1], [0.0])], "x", "y", logy=True)],
            tmp_path / "q.png",
            title="t",
        )
    with pytest.raises(ValueError):
        draw_panels([], tmp_path / "r.png", title="t")
    bars = draw_ratio_bars(
        [("MLP", [("1 thread", 1.0, None), ("2 threads", 1.6, 0.1)])],
        tmp_path / "b.png",
        ylabel="speed-up",
        title="t",
    )
    with Image.open(bars) as img:
        assert img.width > 400
    with pytest.raises(ValueError):
        draw_ratio_bars([("MLP", [("1", math.nan, None)])], tmp_path / "c.png", ylabel="", title="")
