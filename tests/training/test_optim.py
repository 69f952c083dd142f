"""The optimizers fit builds: torch's own update, without importing torch._dynamo (1.3 s of a
demo) — bit-equal to torch.optim's classes, state dicts interchangeable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from threefigures.config import TrainConfig
from threefigures.training.optim import make_optimizer, make_scheduler

TORCH_CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def _train(optimizer: torch.optim.Optimizer, model: torch.nn.Module, cfg: TrainConfig) -> None:
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=5)
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):
        x, y = torch.rand(8, 20, generator=gen), torch.randint(0, 5, (8,), generator=gen)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 5))


@pytest.mark.parametrize(
    ("name", "schedule"), [("adam", "cosine"), ("adamw", "one-cycle"), ("sgd", "step")]
)
def test_same_update_and_state_as_torch_optim(name: str, schedule: str) -> None:
    cfg = TrainConfig(optimizer=name, schedule=schedule, weight_decay=0.01, nesterov=True)
    ours_model, torch_model = _model(), _model()
    ours = make_optimizer(ours_model, cfg, torch.device("cpu"))
    assert ours is not None and isinstance(ours, TORCH_CLASSES[name])
    kwargs = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "fused": True}
    if name == "sgd":
        kwargs |= {"momentum": cfg.momentum, "nesterov": True}
    reference = TORCH_CLASSES[name](torch_model.parameters(), **kwargs)
    _train(ours, ours_model, cfg)
    _train(reference, torch_model, cfg)
    for a, b in zip(ours_model.parameters(), torch_model.parameters(), strict=True):
        assert torch.equal(a, b)
    # each loads the other's state and goes on identically
    ours.load_state_dict(reference.state_dict())
    assert str(ours.state_dict()) == str(reference.state_dict())


def test_the_optimizers_pickle_and_unwrap_after_a_stock_one_exists() -> None:
    """A stock torch optimizer made first adds a profiling wrapper to its class; ours still
    reaches the update itself. And its objects pickle (their class is a module attribute)."""
    import pickle

    from threefigures.training import optim

    torch.optim.Adam(_model().parameters()).step()  # patches torch.optim.Adam.step
    eager = optim._eager(torch.optim.Adam)
    model = _model()
    opt = eager(model.parameters(), lr=1e-3)
    F.cross_entropy(model(torch.rand(4, 20)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    made = make_optimizer(model, TrainConfig(), torch.device("cpu"))
    assert type(pickle.loads(pickle.dumps(made))) is type(made)
    assert type(made).__name__ == "Adam"


def test_training_saving_and_resuming_never_import_dynamo(tmp_path: Path) -> None:
    """fit with every optimizer and schedule, clipping, a checkpoint per epoch and a restored
    optimizer state: torch._dynamo stays unimported (a fresh process)."""
    script = f"""
import sys
import torch
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from helpers import make_synthetic
from threefigures.config import ModelConfig, TrainConfig
from threefigures.models import create_model
from threefigures.runs.checkpoint import load_train_state, save_train_state
from threefigures.training import fit
from threefigures.training.optim import make_optimizer

data = make_synthetic(200, 50)
path = {str(tmp_path / "state.safetensors")!r}
for name, schedule in [("adam", "cosine"), ("adamw", "one-cycle"), ("sgd", "step")]:
    cfg = TrainConfig(epochs=2, optimizer=name, schedule=schedule, grad_clip=1.0, device="cpu")
    model = create_model("mlp", ModelConfig(layers=(8,)))
    def save(m, opt, sched, history, epoch):
        info = {{"epochs_done": epoch, "history": history.to_dict()}}
        save_train_state(path, m, opt, sched, info)
    fit(model, data, cfg, on_epoch_end=save)
    _weights, optimizer_state, _sched, _info = load_train_state(path)
    make_optimizer(model, cfg, torch.device("cpu")).load_state_dict(optimizer_state)
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
