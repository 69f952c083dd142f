"""A run's outputs: Figures 1–3 drawn from the live model and its history, the "Looking
inside" section, and ``report.html`` that holds them all."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from threefigures.config import DataConfig, ModelConfig, RunConfig
from threefigures.data import AnyDataset, is_sequence_data, is_table_data
from threefigures.errors import ThreeFiguresError
from threefigures.explain.analysis import fixed_sample
from threefigures.runs.store import RunRecord, Store
from threefigures.training import EvalResult, FitResult, History

if TYPE_CHECKING:
    from threefigures.outputs.inside import InsideResult

FIGURE3_SAMPLES = 24

#: Test examples in the report's embedding view: small, so the section costs seconds.
REPORT_INSIDE_SAMPLE = 200


def versions() -> dict[str, str]:
    """Library versions from package metadata (no imports: the report stays fast)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in (
        "threefigures",
        "torch",
        "torchvision",
        "numpy",
        "scikit-learn",
        "matplotlib",
        "safetensors",
        "pillow",
        "mlxtend",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    out["platform"] = platform.platform()
    out["processor"] = platform.processor() or platform.machine()
    out["cpu threads"] = str(torch.get_num_threads())
    return out


def structure_of(model: nn.Module) -> list[Any]:
    """Figure 1's parts: dense layers drawn as neurons (LayerSpec, the MLP's), or any other
    model's blocks (BlockSpec, from the model's own ``describe()``)."""
    from threefigures.figures import BlockSpec, LayerSpec
    from threefigures.models import Network

    if not isinstance(model, Network):
        raise ThreeFiguresError(f"no structure drawing for {type(model).__name__}")
    linears = model.neuron_layers()
    if not linears:
        # variable-length sequences: draw the longest length the data holds
        longest = int(model.config.input_shape[-1])
        return [
            BlockSpec(
                name=str(b["name"]),
                kind=str(b["kind"]),
                out_shape=tuple(longest if d is None else int(d) for d in b["out_shape"]),
                params=int(b["params"]),
                detail=str(b.get("detail", "")),
            )
            for b in model.describe()
        ]
    specs = [LayerSpec("Input", linears[0].in_features, None, 0)]
    for i, layer in enumerate(linears[:-1], start=1):
        name = "Hidden" if len(linears) == 2 else f"Hidden {i}"
        params = sum(p.numel() for p in layer.parameters())
        specs.append(LayerSpec(name, layer.out_features, model.config.activation, params))
    out = linears[-1]
    specs.append(
        LayerSpec("Output", out.out_features, "softmax", sum(p.numel() for p in out.parameters()))
    )
    return specs


def structure_rows(structure: list[Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table under Figure 1, for layers or blocks."""
    from threefigures.figures import LayerSpec

    if structure and isinstance(structure[0], LayerSpec):
        header = ("Layer", "Number of Neurons", "Activation", "Parameters")
        return header, [
            (s.name, f"{s.units:,}", s.activation or "—", f"{s.params:,}") for s in structure
        ]
    header = ("Block", "Output shape", "Detail", "Parameters")
    return header, [
        (b.name, "×".join(str(d) for d in b.out_shape), b.detail or b.kind, f"{b.params:,}")
        for b in structure
    ]


def _draw_figure1(model: nn.Module, path: Path, subtitle: str) -> Path:
    from threefigures.figures import LayerSpec, draw_structure

    structure = structure_of(model)
    if structure and isinstance(structure[0], LayerSpec):
        return draw_structure(structure, path, subtitle=subtitle)
    from threefigures.figures import draw_blocks

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return draw_blocks(structure, path, subtitle=subtitle, trainable=trainable)


def _draw_figure3(
    model: nn.Module, data: AnyDataset, test: EvalResult, path: Path, threshold: float = 0.5
) -> Path:
    from threefigures.figures import draw_inference

    if is_table_data(data):
        from threefigures.outputs.tabular import draw_table_figure3

        return draw_table_figure3(data, test, path, threshold)

    if is_sequence_data(data) and data.task == "next":
        from threefigures.figures import draw_generated
        from threefigures.models.generate import sample_names

        gen = torch.Generator().manual_seed(0)
        names = sample_names(model, data.vocab, n=24, temperature=0.8, generator=gen)
        return draw_generated(
            names, path, title="Figure 3 — names the model wrote", temperature=0.8
        )
    idx = fixed_sample(len(test.labels), 16 if is_sequence_data(data) else FIGURE3_SAMPLES)
    if is_sequence_data(data):
        from threefigures.figures import draw_sequence_inference

        return draw_sequence_inference(
            [data.texts_test[i] for i in idx],
            test.probabilities[idx],
            data.classes,
            path,
            labels=test.labels[idx],
            title=f"Figure 3 — inference on {len(idx)} test {data.items} never used in training",
        )
    return draw_inference(
        data.test_x[torch.from_numpy(idx)].numpy(),
        test.probabilities[idx],
        data.classes,
        path,
        labels=test.labels[idx],
        title=f"Figure 3 — inference on {len(idx)} test images never used in training",
    )


def write_outputs(
    record: RunRecord,
    model: nn.Module,
    config: RunConfig,
    data: AnyDataset,
    history: History,
    test: EvalResult,
    timings: dict[str, float],
    store: Store | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Draw the three figures and write ``report.html`` (its confusion matrix is an HTML
    heat table: the numbers themselves, and no second of matplotlib per run)."""
    from threefigures.figures import TrainingHistory, draw_training
    from threefigures.outputs.report import write_report

    folder = record.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    params = sum(p.numel() for p in model.parameters())
    paths: dict[str, Path] = {}
    paths["figure1"] = _draw_figure1(
        model, folder / "figure1.png", f"run {record.id} · {config.model.name} · data {data.name}"
    )
    paths["figure2"] = draw_training(
        TrainingHistory(
            batch_epoch=history.batch_epoch,
            batch_loss=history.batch_loss,
            epoch=history.epoch,
            epoch_loss=history.epoch_loss,
            val_accuracy=history.val_accuracy,
            val_loss=history.val_loss,
        ),
        folder / "figure2.png",
        title=f"Figure 2 — training on {data.name} ({len(history.epoch)} epochs)",
    )
    paths["figure3"] = _draw_figure3(
        model, data, test, folder / "figure3.png", config.train.threshold
    )
    if is_table_data(data):
        from threefigures.outputs.tabular import draw_tradeoff

        paths["tradeoff"] = draw_tradeoff(
            data, test, folder / "tradeoff.png", config.train.threshold
        )
    timings = {**timings, "figures_seconds": time.perf_counter() - started}
    inside = _inside_for_report(model, data, test, folder / "inside")
    if inside is not None:
        timings["looking_inside_seconds"] = inside.seconds
        paths.update(inside.paths())
    paths["report"] = write_report(
        folder / "report.html",
        record=record,
        config=config,
        data=data.summary(),
        history=history,
        test=test,
        classes=data.classes,
        figures={k: paths[k] for k in ("figure1", "figure2", "figure3", "tradeoff") if k in paths},
        timings=timings,
        versions=versions(),
        params=params,
        structure=structure_rows(structure_of(model)),
        extra=extra or {},
        inside=[] if inside is None else inside.figures,
    )
    if store is not None:
        for kind, path in paths.items():
            store.add_artifact(record.id, kind, path)
    return paths


def _inside_for_report(
    model: nn.Module, data: AnyDataset, test: EvalResult, folder: Path
) -> InsideResult | None:
    """The report's "Looking inside" figures, on a fixed small sample; ``None`` for a model
    these views do not cover (a failure here must not cost the run its report)."""
    from threefigures.outputs.inside import inside_figures

    try:
        return inside_figures(
            model, data, folder, test=test, sample=REPORT_INSIDE_SAMPLE, confusion_figure=False
        )
    except ThreeFiguresError:
        return None


def run_extras(model: nn.Module, data: AnyDataset, result: FitResult) -> dict[str, Any]:
    """What the report says beyond the figures: device, sizes, history notes, baselines."""
    extra: dict[str, Any] = {
        "device": result.device,
        "precision": result.precision,
        "sizes": result.sizes,
        "world_size": result.world_size,
        "ranks_agree": result.ranks_agree,
        "stopped_early": result.stopped_early,
    }
    from threefigures.models import Network

    if isinstance(model, Network) and model.history_note:
        extra["notes"] = model.history_note
    if is_sequence_data(data):
        from threefigures.data.sequences import majority_baseline

        extra["majority_baseline"] = majority_baseline(data)
    if is_table_data(data) and result.test is not None:
        from threefigures.outputs.tabular import table_extras

        extra.update(table_extras(data, result.test, result.config.threshold))
    return extra


def draw_figures(
    model: nn.Module, data: AnyDataset, result: FitResult, out_dir: str | Path
) -> dict[str, Path]:
    """The three figures and report for a model trained with :func:`fit` in Python."""
    if result.test is None:
        raise ThreeFiguresError("draw_figures needs a fit result with a test evaluation")
    folder = Path(out_dir)
    model_config = getattr(model, "config", None)
    if not isinstance(model_config, ModelConfig):
        raise ThreeFiguresError("draw_figures needs a model built by create_model")
    config = RunConfig(data=DataConfig(name=data.name), model=model_config, train=result.config)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = RunRecord(
        id="python-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"),
        created_at=now,
        updated_at=now,
        status="finished",
        data_name=data.name,
        model_name=model_config.name,
        epochs_planned=result.config.epochs,
        epochs_done=result.epochs_done,
        test_accuracy=result.test.accuracy,
        seconds=result.train_seconds,
        device=result.device,
        run_dir=folder,
        config=config.to_dict(),
        info={},
        error=None,
    )
    extra = {"device": result.device, "precision": result.precision, "sizes": result.sizes}
    timings = {"train_seconds": result.train_seconds}
    return write_outputs(
        record, model, config, data, result.history, result.test, timings, None, extra
    )
