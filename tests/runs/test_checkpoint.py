"""Tests for threefigures.runs.checkpoint: safetensors weights and training state, never pickle."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import torch._dynamo  # the first optimizer imports it (~2 s): pay that at collection, once
from safetensors.torch import save_file
from torch import nn

from threefigures.config import ModelConfig
from threefigures.errors import CheckpointError, ThreeFiguresError
from threefigures.models import create_model
from threefigures.runs import checkpoint
from threefigures.runs.checkpoint import (
    atomic_write_text,
    load_train_state,
    load_weights,
    save_train_state,
    save_weights,
)


def make_model(layers: tuple[int, ...] = (8,), seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model("mlp", ModelConfig(layers=layers))


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


class MarkerPayload:
    """Unpickling this creates ``marker``: proof that a loader ran pickle's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


# --------------------------------------------------------------------------- weights


def test_weights_round_trip(tmp_path: Path) -> None:
    model = make_model(seed=0)
    path = save_weights(model, tmp_path / "model.safetensors")
    assert path == tmp_path / "model.safetensors"
    other = make_model(seed=1)
    assert not torch.equal(other.state_dict()["out.weight"], model.state_dict()["out.weight"])
    returned = load_weights(other, path)
    assert returned is other
    assert_same_state(other.state_dict(), model.state_dict())
    x = torch.rand(5, 1, 28, 28)
    model.eval()
    other.eval()
    assert torch.equal(model(x), other(x))


def test_weights_round_trip_without_hidden_layers(tmp_path: Path) -> None:
    model = make_model(layers=())
    save_weights(model, tmp_path / "w.safetensors")
    other = load_weights(make_model(layers=(), seed=3), tmp_path / "w.safetensors")
    assert_same_state(other.state_dict(), model.state_dict())


def test_weights_file_is_plain_safetensors_with_metadata(tmp_path: Path) -> None:
    from safetensors import safe_open

    model = make_model()
    save_weights(model, tmp_path / "a.safetensors", meta={"classes": '["0", "1"]'})
    with safe_open(str(tmp_path / "a.safetensors"), framework="pt") as f:
        assert f.metadata() == {"classes": '["0", "1"]'}
        assert set(f.keys()) == set(model.state_dict())
    save_weights(model, tmp_path / "b.safetensors")
    with safe_open(str(tmp_path / "b.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}


def test_save_creates_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "run" / "deep" / "model.safetensors"
    save_weights(make_model(), path)
    assert path.is_file()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(make_model(), tmp_path / "nope.safetensors")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        load_weights(make_model(), tmp_path)


@pytest.mark.parametrize("keep", [0, 4, 8, 50, -1])
def test_truncated_file(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "model.safetensors"
    save_weights(make_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        load_weights(make_model(), path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(os.urandom(64) + b"\x00" * 100)
    with pytest.raises(CheckpointError):
        load_weights(make_model(), path)


def test_corrupt_header_length(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_weights(make_model(), path)
    data = bytearray(path.read_bytes())
    data[:8] = (2**62).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_weights(make_model(), path)


def test_checkpoint_error_is_a_threefigures_error() -> None:
    assert issubclass(CheckpointError, ThreeFiguresError)


def test_pickle_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    """Control for the tests below: the payload does create its marker when unpickled."""
    marker = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(MarkerPayload(marker)))
    assert marker.exists()


def test_torch_save_file_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    model = make_model()
    torch.save({"state": model.state_dict(), "payload": MarkerPayload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickle") as info:
        load_weights(model, path)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickle"):
        load_train_state(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_raw_pickle_is_refused_and_never_unpickled(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(MarkerPayload(marker), protocol=protocol))
    with pytest.raises(CheckpointError, match="pickle"):
        load_weights(make_model(), path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocol_pickle_is_refused_and_never_unpickled(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(MarkerPayload(marker), protocol=protocol))
    with pytest.raises(CheckpointError):
        load_weights(make_model(), path)
    assert not marker.exists()


def test_shape_mismatch_names_the_key(tmp_path: Path) -> None:
    model = make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["out.weight"] = torch.zeros(10, 9)
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match=r"out\.weight") as info:
        load_weights(make_model(), tmp_path / "w.safetensors")
    assert "(10, 9)" in str(info.value) and "(10, 8)" in str(info.value)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    save_weights(make_model(layers=(8,)), tmp_path / "w.safetensors")
    target = make_model(layers=(16,))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match="shape"):
        load_weights(target, tmp_path / "w.safetensors")
    assert_same_state(target.state_dict(), before)  # untouched


def test_missing_keys(tmp_path: Path) -> None:
    state = dict(make_model().state_dict())
    del state["out.bias"]
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing: out\.bias"):
        load_weights(make_model(), tmp_path / "w.safetensors")


def test_unexpected_keys(tmp_path: Path) -> None:
    state = dict(make_model().state_dict())
    state["extra.weight"] = torch.zeros(3)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match=r"unexpected: extra\.weight"):
        load_weights(make_model(), tmp_path / "w.safetensors")


def test_more_layers_is_missing_and_unexpected(tmp_path: Path) -> None:
    save_weights(make_model(layers=(8, 8)), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="do not match"):
        load_weights(make_model(layers=(8,)), tmp_path / "w.safetensors")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, bad: float) -> None:
    model = make_model()
    with torch.no_grad():
        model.state_dict()["hidden.0.weight"][3, 5] = bad
    save_weights(model, tmp_path / "w.safetensors")
    target = make_model(seed=1)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"hidden\.0\.weight.*NaN or infinite"):
        load_weights(target, tmp_path / "w.safetensors")
    assert_same_state(target.state_dict(), before)


# --------------------------------------------------------------------------- training state


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    steps: range,
) -> None:
    for step in steps:
        gen = torch.Generator().manual_seed(1000 + step)
        x = torch.rand(16, 1, 28, 28, generator=gen)
        y = torch.randint(0, 10, (16,), generator=gen)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()


def adam_setup(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    model = make_model(seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    return model, optimizer, scheduler


def json_normalised(value: Any) -> Any:
    return json.loads(json.dumps(value))


def test_train_state_round_trip(tmp_path: Path) -> None:
    model, optimizer, scheduler = adam_setup()
    train_steps(model, optimizer, scheduler, range(2))
    info = {"epochs_done": 2, "history": {"loss": [0.5, 0.25]}, "name": "ünïcode"}
    path = save_train_state(tmp_path / "state.safetensors", model, optimizer, scheduler, info)

    model_state, opt_state, sched_state, info_back = load_train_state(path)
    assert info_back == info
    assert_same_state(model_state, model.state_dict())

    original = optimizer.state_dict()
    assert set(opt_state["state"]) == set(original["state"]) == set(range(4))
    for idx, state in original["state"].items():
        loaded = opt_state["state"][idx]
        assert set(loaded) == set(state) == {"step", "exp_avg", "exp_avg_sq"}
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(loaded[name]), torch.as_tensor(value)), (idx, name)
        assert float(loaded["step"]) == 2.0
    assert opt_state["param_groups"] == json_normalised(original["param_groups"])
    assert opt_state["param_groups"][0]["lr"] == optimizer.param_groups[0]["lr"]
    assert sched_state == json_normalised(scheduler.state_dict())
    assert sched_state["last_epoch"] == 2


def test_resuming_from_train_state_matches_continuing(tmp_path: Path) -> None:
    model, optimizer, scheduler = adam_setup(seed=0)
    train_steps(model, optimizer, scheduler, range(2))
    path = save_train_state(tmp_path / "state.safetensors", model, optimizer, scheduler, {})

    # a fresh process: new model (other init), optimizer and scheduler, restored from disk
    fresh_model, fresh_optimizer, fresh_scheduler = adam_setup(seed=123)
    model_state, opt_state, sched_state, _info = load_train_state(path)
    fresh_model.load_state_dict(model_state)
    fresh_optimizer.load_state_dict(opt_state)
    fresh_scheduler.load_state_dict(sched_state)
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()

    train_steps(model, optimizer, scheduler, range(2, 6))
    train_steps(fresh_model, fresh_optimizer, fresh_scheduler, range(2, 6))
    assert_same_state(fresh_model.state_dict(), model.state_dict())
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert fresh_scheduler.state_dict() == scheduler.state_dict()


def test_resuming_without_the_optimizer_state_differs(tmp_path: Path) -> None:
    """Control: the test above could fail — dropping Adam's moments changes the result."""
    model, optimizer, scheduler = adam_setup(seed=0)
    train_steps(model, optimizer, scheduler, range(2))
    path = save_train_state(tmp_path / "state.safetensors", model, optimizer, scheduler, {})
    fresh_model, fresh_optimizer, fresh_scheduler = adam_setup(seed=123)
    model_state, _opt_state, sched_state, _info = load_train_state(path)
    fresh_model.load_state_dict(model_state)
    fresh_scheduler.load_state_dict(sched_state)
    train_steps(model, optimizer, scheduler, range(2, 4))
    train_steps(fresh_model, fresh_optimizer, fresh_scheduler, range(2, 4))
    assert not torch.equal(fresh_model.state_dict()["out.weight"], model.state_dict()["out.weight"])


def test_train_state_with_sgd_momentum_and_no_scheduler(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    train_steps(model, optimizer, sched, range(2))
    path = save_train_state(tmp_path / "s.safetensors", model, optimizer, None, {"e": 1})
    _model_state, opt_state, sched_state, info = load_train_state(path)
    assert sched_state is None
    assert info == {"e": 1}
    for idx, state in optimizer.state_dict()["state"].items():
        assert torch.equal(opt_state["state"][idx]["momentum_buffer"], state["momentum_buffer"])


def test_train_state_with_plain_sgd_keeps_non_tensor_state(tmp_path: Path) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    train_steps(model, optimizer, sched, range(1))
    path = save_train_state(tmp_path / "s.safetensors", model, optimizer, None, {})
    _model_state, opt_state, _sched, _info = load_train_state(path)
    fresh = torch.optim.SGD(make_model().parameters(), lr=0.1)
    fresh.load_state_dict(opt_state)
    assert json_normalised(fresh.state_dict()["param_groups"]) == json_normalised(
        optimizer.state_dict()["param_groups"]
    )


def test_train_state_without_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.safetensors"
    save_weights(make_model(), path)  # a weights file, not a training state
    with pytest.raises(CheckpointError, match="metadata"):
        load_train_state(path)


def test_truncated_train_state_is_refused(tmp_path: Path) -> None:
    model, optimizer, scheduler = adam_setup()
    train_steps(model, optimizer, scheduler, range(1))
    path = save_train_state(tmp_path / "state.safetensors", model, optimizer, scheduler, {})
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError):
        load_train_state(path)


# --------------------------------------------------------------------------- atomic writes


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_many_saves_leave_no_temporary_files(tmp_path: Path) -> None:
    model, optimizer, scheduler = adam_setup()
    train_steps(model, optimizer, scheduler, range(1))
    for i in range(20):
        save_weights(model, tmp_path / "model.safetensors")
        save_train_state(tmp_path / "state.safetensors", model, optimizer, scheduler, {"i": i})
        atomic_write_text(tmp_path / "config.json", json.dumps({"i": i}))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "state.safetensors",
    ]
    assert load_train_state(tmp_path / "state.safetensors")[3] == {"i": 19}


def test_crash_during_save_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    old = make_model(seed=0)
    save_weights(old, path)
    before = path.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_weights(make_model(seed=1), path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    loaded = load_weights(make_model(seed=2), path)
    assert_same_state(loaded.state_dict(), old.state_dict())


def test_crash_during_first_save_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: Any, dst: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "config.json", "{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_header_length_starting_with_0x80_is_not_mistaken_for_a_pickle(tmp_path) -> None:
    """A safetensors header of length 0x..80 begins with the pickle protocol byte 0x80."""
    import torch
    from safetensors.torch import save

    from threefigures.runs.checkpoint import read_tensors

    for pad in range(300):
        data = save({"w": torch.zeros(2)}, metadata={"pad": "x" * pad})
        if data[0] == 0x80:
            break
    else:  # pragma: no cover
        raise AssertionError("no padding produced a 0x80 first byte")
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    tensors, meta = read_tensors(path)
    assert torch.equal(tensors["w"], torch.zeros(2)) and meta["pad"] == "x" * pad
