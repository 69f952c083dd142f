"""ONNX export: every registered model, a dynamic batch, parity with torch, atomic writes.

Exports through the current (dynamo) exporter take seconds each (an LSTM tens of seconds
on a small CPU), so those tests are marked slow and share one export per model; the fast
tests force the legacy exporter or fake the exporters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install onnx)")
pytest.importorskip("onnxscript", reason="ONNX export needs onnxscript (pip install onnxscript)")
ort = pytest.importorskip(
    "onnxruntime", reason="ONNX export checks need onnxruntime (pip install onnxruntime)"
)

from threefigures.config import ModelConfig  # noqa: E402
from threefigures.errors import ThreeFiguresError  # noqa: E402
from threefigures.models import MLP, create_model, list_models, model_entry  # noqa: E402
from threefigures.outputs import export  # noqa: E402
from threefigures.outputs.export import ExportResult, export_onnx, onnx_parity  # noqa: E402

#: the models ONNX export covers: every one but the pretrained transformer (reads="text")
NAMES = [entry.name for entry in list_models() if entry.reads != "text"]
ATOL = 1e-4


def _cases() -> list[Any]:
    """(config, trained_norm): each registered model's defaults as built, plus variants.

    ``trained_norm``: put the model in training mode and run a few batches through it first,
    so batch norms hold non-trivial running statistics and the model is handed over in
    training mode: a graph exported in training mode (batch statistics) would disagree.
    """
    cases = [pytest.param(ModelConfig(name=name), False, id=name) for name in NAMES]
    mlp_gelu = ModelConfig(name="mlp", layers=(512, 128), activation="gelu")
    cases.append(pytest.param(mlp_gelu, False, id="mlp-512-128-gelu"))
    if "cnn" in NAMES:
        cnn_bn = ModelConfig(name="cnn", batch_norm=True)
        cases.append(pytest.param(cnn_bn, True, id="cnn-batchnorm-eval"))
    if "rnn" in NAMES:
        tokens = ModelConfig(name="rnn", vocab_size=30, num_classes=18)
        cases.append(pytest.param(tokens, False, id="rnn-tokens"))
    return cases


def _inputs(config: ModelConfig, batch: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if config.vocab_size > 0:
        return torch.randint(1, config.vocab_size, (batch, 12), generator=gen)
    return torch.rand(batch, *config.input_shape, generator=gen)


def _run_onnx(path: Path, x: torch.Tensor) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def _build(config: ModelConfig, trained_norm: bool) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(config.name, config)
    if trained_norm:
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert norms, f"{config.name} has no batch norm to test"
        model.train()
        with torch.no_grad():
            for seed in range(3):
                model(_inputs(config, 16, 100 + seed) * 0.5 + 0.25)
        assert all(m.running_var is not None and float(m.running_var.mean()) != 1.0 for m in norms)
    return model


_EXPORTS: dict[str, tuple[nn.Module, ExportResult]] = {}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Export each case once per test module: ``exported(config) -> (model, result)``."""
    folder = tmp_path_factory.mktemp("onnx")

    def get(config: ModelConfig, trained_norm: bool = False) -> tuple[nn.Module, ExportResult]:
        key = f"{config!r} {trained_norm}"
        if key not in _EXPORTS:
            model = _build(config, trained_norm)
            was_training = model.training
            result = export_onnx(model, folder / f"model{len(_EXPORTS)}.onnx", atol=ATOL)
            assert model.training == was_training, "export must restore the model's mode"
            print(
                f"{config.name}: {result.exporter} exporter, opset {result.opset}, "
                f"max |torch - onnxruntime| {result.max_abs_diff:.3g}"
            )
            model.eval()
            _EXPORTS[key] = (model, result)
        return _EXPORTS[key]

    yield get
    _EXPORTS.clear()


@pytest.fixture
def legacy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the current exporter fail, so export_onnx falls back to the TorchScript one
    (fast: the tests that use it are about export_onnx's own logic)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("dynamo exporter disabled by the test")

    monkeypatch.setattr(export, "_export_dynamo", refuse)


# --- every registered model ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("config", "trained_norm"), _cases())
def test_export_matches_torch(exported: Any, config: ModelConfig, trained_norm: bool) -> None:
    model, result = exported(config, trained_norm)
    assert result.path.is_file()
    assert result.exporter in ("dynamo", "torchscript")
    assert result.inputs == ["tokens" if config.vocab_size > 0 else "pixels"]
    assert result.outputs == ["logits"]
    assert result.opset >= 17
    assert result.max_abs_diff <= ATOL
    x = _inputs(config, 7, seed=3)  # neither the example's 2 nor the check's 5
    assert onnx_parity(model, result.path, x) <= ATOL
    assert _run_onnx(result.path, x).shape == (7, config.num_classes)


@pytest.mark.slow
@pytest.mark.parametrize(("config", "trained_norm"), _cases())
def test_one_file_runs_any_batch_size(
    exported: Any, config: ModelConfig, trained_norm: bool
) -> None:
    model, result = exported(config, trained_norm)
    for batch in (1, 37):
        x = _inputs(config, batch, seed=batch)
        out = _run_onnx(result.path, x)
        assert out.shape == (batch, config.num_classes)
        with torch.no_grad():
            want = model(x).numpy()
        assert abs(out - want).max() <= ATOL


@pytest.mark.slow
def test_parity_detects_a_different_model(exported: Any) -> None:
    _, result = exported(ModelConfig(name="mlp"))
    torch.manual_seed(1)
    other = create_model("mlp", ModelConfig())
    assert onnx_parity(other, result.path, torch.rand(4, 1, 28, 28)) > 1e-2


# --- export_onnx's own logic (fast: legacy exporter or fakes) ---------------------------


def test_falls_back_to_the_torchscript_exporter(tmp_path: Path, legacy_only: None) -> None:
    torch.manual_seed(0)
    model = create_model("mlp", ModelConfig())
    result = export_onnx(model, tmp_path / "mlp.onnx")
    assert result.exporter == "torchscript"
    assert result.max_abs_diff <= ATOL
    assert (result.inputs, result.outputs) == (["pixels"], ["logits"])
    for batch in (1, 37):
        assert onnx_parity(model, result.path, torch.rand(batch, 1, 28, 28)) <= ATOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx"]


def test_exports_in_eval_mode_and_restores_modes(tmp_path: Path, legacy_only: None) -> None:
    torch.manual_seed(0)
    model = create_model("mlp", ModelConfig(layers=(32,), dropout=0.5))
    assert isinstance(model, MLP)
    model.train()
    model.out.eval()  # a mixed state must come back as it was
    result = export_onnx(model, tmp_path / "m.onnx")
    assert result.max_abs_diff <= ATOL  # dropout off in the file and in the comparison
    assert model.training and model.hidden.training and not model.out.training


def test_the_pretrained_transformer_is_refused_in_one_line(tmp_path: Path) -> None:
    from threefigures.errors import ThreeFiguresError

    class Stub(torch.nn.Module):
        config = ModelConfig(name="minilm")

    assert model_entry("minilm").reads == "text"
    with pytest.raises(ThreeFiguresError, match="minilm is not exported"):
        export_onnx(Stub(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("reported", [1.0, math.nan, math.inf])
def test_parity_failure_raises_and_writes_nothing(
    tmp_path: Path, legacy_only: None, monkeypatch: pytest.MonkeyPatch, reported: float
) -> None:
    monkeypatch.setattr(export, "onnx_parity", lambda *args: reported)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous good file")
    with pytest.raises(ThreeFiguresError, match="disagrees with torch") as info:
        export_onnx(create_model("mlp", ModelConfig(layers=(8,))), path)
    assert str(reported) in str(info.value) or f"{reported:.3g}" in str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_a_failing_exporter_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_fail(model: nn.Module, example: torch.Tensor, path: Path, name: str) -> None:
        path.write_bytes(b"\x08\x07half an onnx file")
        raise RuntimeError("exporter crashed halfway")

    monkeypatch.setattr(export, "_export_dynamo", half_then_fail)
    monkeypatch.setattr(export, "_export_torchscript", half_then_fail)
    with pytest.raises(ThreeFiguresError, match="cannot export MLP to ONNX") as info:
        export_onnx(create_model("mlp", ModelConfig(layers=(8,))), tmp_path / "sub" / "m.onnx")
    assert "exporter crashed halfway" in str(info.value)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "sub").iterdir()) == []


class _Bessel(nn.Module):
    """torch.special.i0 has no ONNX translation in either exporter."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.i0(self.linear(x))


@pytest.mark.slow
def test_unexportable_model_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bessel.onnx"
    with pytest.raises(ThreeFiguresError, match="cannot export _Bessel to ONNX") as info:
        export_onnx(_Bessel(), path, example=torch.rand(2, 4))
    message = str(info.value)
    assert "\n" not in message
    assert "dynamo:" in message and "torchscript:" in message
    assert list(tmp_path.iterdir()) == []


class _Dict(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": x.flatten(1)}


def test_model_without_a_logits_tensor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ThreeFiguresError, match="not one tensor of logits"):
        export_onnx(_Dict(), tmp_path / "d.onnx", example=torch.rand(2, 3))
    assert list(tmp_path.iterdir()) == []


def test_model_without_config_needs_an_example(tmp_path: Path) -> None:
    with pytest.raises(ThreeFiguresError, match="pass example="):
        export_onnx(nn.Linear(3, 2), tmp_path / "l.onnx")


def test_check_false_skips_onnxruntime(
    tmp_path: Path, legacy_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: Any) -> float:
        raise AssertionError("check=False must not compare")

    monkeypatch.setattr(export, "onnx_parity", must_not_run)
    model = create_model("mlp", ModelConfig(layers=(8,)))
    result = export_onnx(model, tmp_path / "m.onnx", check=False, example=torch.rand(1, 1, 28, 28))
    assert math.isnan(result.max_abs_diff)
    assert _run_onnx(result.path, torch.rand(3, 1, 28, 28)).shape == (3, 10)
