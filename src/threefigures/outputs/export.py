"""Export a model to ONNX, and prove the file computes what the model computes.

``export_onnx(model, "model.onnx")`` writes a file with a dynamic batch dimension (input
``pixels`` — ``tokens`` for a model that reads token ids — output ``logits``), then runs it
in onnxruntime on a batch of another size and compares with torch. An exporter can produce
a graph that runs yet disagrees with the model (the legacy TorchScript exporter once gave a
CNN that was off by 15.3), so the check is on by default; a file that fails it is never
written.

Only the batch is dynamic. A token model's file takes the example's sequence length (12 by
default; pad to it): torch.export specialises the length of an LSTM it traces, so a dynamic
sequence axis cannot be relied on.

onnx, onnxscript and onnxruntime are imported only here, and only when called: the rest
of the package does not need them.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from threefigures.errors import ThreeFiguresError

INPUT_NAME = "pixels"
TOKEN_INPUT_NAME = "tokens"
OUTPUT_NAME = "logits"
BATCH_AXIS = "batch"
DEFAULT_TOKEN_LENGTH = 12
INSTALL_HINT = "pip install onnx onnxscript onnxruntime"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how well it matched torch.

    ``max_abs_diff`` is NaN when the export ran with ``check=False``; ``exporter`` is
    ``"dynamo"`` (``torch.onnx.export(..., dynamo=True)``) or ``"torchscript"`` (the
    legacy exporter, used only when the current one fails).
    """

    path: Path
    max_abs_diff: float
    opset: int
    inputs: list[str]
    outputs: list[str]
    exporter: str


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CLASS = re.compile(r"<class '(?:[\w.]*\.)?(\w+)'>")


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """The informative line of an exception: exporter errors run to pages, and the
    dynamo exporter's first line is boilerplate with its cause under "Exception summary"."""
    lines = [
        line.strip().lstrip("#").strip()
        for line in _ANSI.sub("", str(exc)).splitlines()
        if line.strip().lstrip("#").strip()
    ]
    if "Exception summary" in lines:
        lines = lines[lines.index("Exception summary") + 1 :]
    text = lines[0] if lines else ""
    named = _CLASS.match(text)  # "<class 'pkg.mod.DispatchError'>: ..." → "DispatchError: ..."
    if named:
        text = f"{named.group(1)}: {text[named.end() :].lstrip(': ')}"
    else:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ThreeFiguresError(f"ONNX export needs {module}: {INSTALL_HINT}") from None


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration; every submodule's own mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _device_of(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _vocab_size(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "vocab_size", 0) or 0)


def default_example(model: nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A batch the model accepts: pixels in [0, 1] of ``config.input_shape``, or for a
    token model (``config.vocab_size > 0``) ids in 1..vocab_size-1 of length 12."""
    config = getattr(model, "config", None)
    gen = torch.Generator().manual_seed(seed)
    vocab = _vocab_size(model)
    if vocab > 0:
        return torch.randint(1, max(vocab, 2), (batch, DEFAULT_TOKEN_LENGTH), generator=gen)
    shape = getattr(config, "input_shape", None)
    if not shape:
        raise ThreeFiguresError(
            f"{type(model).__name__} has no config.input_shape: pass example= to export it"
        )
    return torch.rand(batch, *shape, generator=gen)


def _is_tokens(x: torch.Tensor) -> bool:
    return not (x.is_floating_point() or x.is_complex())


def _export_dynamo(model: nn.Module, example: torch.Tensor, path: Path, input_name: str) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        input_names=[input_name],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: BATCH_AXIS},),
        external_data=False,
        verbose=False,
        report=False,
    )


def _export_torchscript(
    model: nn.Module, example: torch.Tensor, path: Path, input_name: str
) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        input_names=[input_name],
        output_names=[OUTPUT_NAME],
        dynamic_axes={input_name: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
    )


def _check_inputs(
    model: nn.Module, example: torch.Tensor, dims: list[int | None], seed: int
) -> torch.Tensor:
    """A fresh batch shaped like ``example`` but with every dynamic axis of the file
    (``None`` in ``dims``) three longer, so the batch size differs from the traced one."""
    shape = [n + 3 if i < len(dims) and dims[i] is None else n for i, n in enumerate(example.shape)]
    gen = torch.Generator().manual_seed(seed)
    if _is_tokens(example):
        vocab = _vocab_size(model)
        low, high = (
            (1, max(vocab, 2)) if vocab > 0 else (int(example.min()), int(example.max()) + 1)
        )
        return torch.randint(low, high, shape, generator=gen, dtype=example.dtype)
    return torch.rand(shape, generator=gen, dtype=example.dtype)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    example: torch.Tensor | None = None,
    check: bool = True,
    atol: float = 1e-4,
) -> ExportResult:
    """Write ``model`` to ``path`` as ONNX with a dynamic batch dimension.

    The model is exported in eval mode (its modes are restored afterwards). The current
    exporter (``dynamo=True``) is tried first, the legacy TorchScript one only if that
    fails. With ``check`` the file is run in onnxruntime on a batch of a different size and
    must match torch within ``atol``. The file is written to a temporary name in the same
    folder and moved into place only once it passed, so a failure never leaves a half-written
    or wrong file (and never replaces a good one). Errors are :class:`ThreeFiguresError`.
    """
    from threefigures.models import model_entry

    name = getattr(getattr(model, "config", None), "name", None)
    if isinstance(name, str) and model_entry(name).reads == "text":
        # not exported (yet): the pretrained transformer's attention with a padding mask and
        # its 87 MB of weights were not checked against onnxruntime here
        raise ThreeFiguresError(
            f"ONNX export covers the networks trained from scratch; {name} is not exported"
        )
    onnx = _require("onnx")
    _require("onnxscript")
    if check:
        _require("onnxruntime")
    path = Path(path)
    device = _device_of(model)
    if example is None:
        example = default_example(model)
    if not isinstance(example, torch.Tensor) or example.dim() < 1 or example.shape[0] < 1:
        raise ThreeFiguresError("example must be a batched tensor, like torch.rand(2, 1, 28, 28)")
    if example.shape[0] == 1:  # torch.export specialises a batch of 1: trace with two
        example = example.expand(2, *example.shape[1:]).clone()
    example = example.to(device)
    input_name = TOKEN_INPUT_NAME if _is_tokens(example) else INPUT_NAME

    with _eval_mode(model):
        try:
            with torch.no_grad():
                out = model(example)
        except Exception as exc:
            raise ThreeFiguresError(
                f"{type(model).__name__} fails on an example of shape {tuple(example.shape)}: "
                f"{_one_line(exc)}"
            ) from None
        if not isinstance(out, torch.Tensor) or out.dim() < 1:
            raise ThreeFiguresError(
                f"cannot export {type(model).__name__}: it returns {type(out).__name__}, "
                "not one tensor of logits"
            )

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        failures: list[str] = []
        exporter = ""
        try:
            for name, export in (("dynamo", _export_dynamo), ("torchscript", _export_torchscript)):
                _remove(tmp)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        warnings.simplefilter("ignore", FutureWarning)
                        warnings.simplefilter("ignore", UserWarning)
                        export(model, example, tmp, input_name)
                    proto = onnx.load(str(tmp), load_external_data=False)
                    onnx.checker.check_model(proto)
                except Exception as exc:
                    failures.append(f"{name}: {_one_line(exc)}")
                    continue
                exporter = name
                break
            else:
                raise ThreeFiguresError(
                    f"cannot export {type(model).__name__} to ONNX: {'; '.join(failures)}"
                )

            graph = proto.graph
            initializers = {init.name for init in graph.initializer}
            inputs = [i.name for i in graph.input if i.name not in initializers]
            outputs = [o.name for o in graph.output]
            opset = next(
                (int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0
            )
            diff = math.nan
            if check:
                dims: list[int | None] = [
                    d.dim_value if d.HasField("dim_value") else None
                    for d in graph.input[0].type.tensor_type.shape.dim
                ]
                if not dims or dims[0] is not None:
                    raise ThreeFiguresError(
                        f"{exporter} export of {type(model).__name__} has a fixed batch size"
                    )
                x = _check_inputs(model, example, dims, seed=1).to(device)
                diff = onnx_parity(model, tmp, x)
                if not diff <= atol:
                    raise ThreeFiguresError(
                        f"ONNX file from the {exporter} exporter disagrees with torch on "
                        f"{type(model).__name__}: max |difference| {diff:.3g} > atol {atol:g} "
                        f"(batch of {x.shape[0]}); nothing written"
                    )
            os.replace(tmp, path)
        finally:
            _remove(tmp)
    return ExportResult(
        path=path,
        max_abs_diff=diff,
        opset=opset,
        inputs=inputs,
        outputs=outputs,
        exporter=exporter,
    )


def onnx_parity(model: nn.Module, path: str | Path, inputs: torch.Tensor) -> float:
    """Max |torch - onnxruntime| of ``model`` and the ONNX file at ``path`` on ``inputs``.

    Runs onnxruntime on the CPU and the model in eval mode (its modes are restored). A NaN
    in one output but not the other counts as an infinite difference.
    """
    ort = _require("onnxruntime")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: inputs.detach().cpu().numpy()}
        got = np.asarray(session.run(None, feed)[0])
    except Exception as exc:
        raise ThreeFiguresError(
            f"{path}: onnxruntime cannot run it on shape {tuple(inputs.shape)}: {_one_line(exc)}"
        ) from None
    with _eval_mode(model), torch.no_grad():
        want = model(inputs.to(_device_of(model))).detach().float().cpu().numpy()
    if got.shape != want.shape:
        raise ThreeFiguresError(
            f"{path}: onnxruntime gives shape {got.shape}, torch {want.shape}, "
            f"for inputs of shape {tuple(inputs.shape)}"
        )
    if got.size == 0:
        return 0.0
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(got64 - want64)
    same = (got64 == want64) | (np.isnan(got64) & np.isnan(want64))  # equal infs, both NaN
    diff = np.where(same, 0.0, np.nan_to_num(diff, nan=math.inf))
    return float(diff.max())
