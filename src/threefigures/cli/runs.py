"""Stored runs: ``figures``, ``evaluate``, ``export`` and the ``runs`` group (``runs``,
``runs show RUN``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import RunOpt, StoreOpt, echo, open_store, say

runs_app = typer.Typer(help="List stored runs, or show one with `runs show RUN`.")


def figures(run: RunOpt = "latest", store: StoreOpt = None) -> None:
    """Redraw the three figures and the report of a stored run."""
    from threefigures.runner import redraw

    paths = redraw(run, store=open_store(store))
    for kind, path in paths.items():
        echo(f"{kind:<10} {path}")


def evaluate(
    run: RunOpt = "latest",
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset name or folder:PATH (default: the run's).")
    ] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir")] = None,
    split: Annotated[str, typer.Option(help="test | train | all")] = "test",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = None,
) -> None:
    """Score a trained model on any dataset: accuracy, per-class accuracy, confusion matrix."""
    from threefigures.runner import evaluate_run

    result, record, classes, ds = evaluate_run(
        run, data, data_dir=data_dir, split=split, store=open_store(store)
    )
    per_class = result.per_class_accuracy()
    if as_json:
        say(
            json.dumps(
                {
                    "run": record.id,
                    "data": ds.name,
                    "split": split,
                    "n": len(result.labels),
                    "accuracy": result.accuracy,
                    "loss": result.loss,
                    "per_class_accuracy": dict(zip(classes, per_class, strict=True)),
                    "confusion": result.confusion.tolist(),
                    "classes": classes,
                },
                indent=2,
            )
        )
        return
    echo(f"run {record.id} on {ds.name} ({split}, {len(result.labels):,} images)")
    echo(f"accuracy {100 * result.accuracy:.2f}%   loss {result.loss:.4f}")
    echo("class            n  accuracy")
    for i, name in enumerate(classes):
        acc = per_class[i]
        echo(
            f"{name[:12]:<12} {int(result.confusion[i].sum()):>5}  "
            f"{'—' if acc is None else f'{100 * acc:6.2f}%'}"
        )
    echo("confusion (rows true, columns predicted):")
    width = max(4, len(str(int(result.confusion.max()))) + 1)
    echo("     " + "".join(f"{j:>{width}}" for j in range(len(classes))))
    for i, row in enumerate(result.confusion):
        echo(f"{i:>4} " + "".join(f"{int(v):>{width}}" for v in row))


def export(
    run: RunOpt = "latest",
    onnx: Annotated[Path, typer.Option("--onnx", help="Where to write the .onnx file.")] = Path(
        "model.onnx"
    ),
    store: StoreOpt = None,
) -> None:
    """Export a stored model to ONNX and check it against torch in onnxruntime."""
    from threefigures.outputs.export import export_onnx
    from threefigures.runner import load_run_model

    model, record, _config, _classes = load_run_model(open_store(store), run)
    result = export_onnx(model, onnx)
    echo(
        f"run {record.id} → {result.path} (opset {result.opset}, {result.exporter}); "
        f"onnxruntime vs torch max |diff| {result.max_abs_diff:.2e}"
    )


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 50,
) -> None:
    """List stored runs: id, when, data, model, epochs, test accuracy, seconds, status."""
    if ctx.invoked_subcommand is not None:
        return
    records = open_store(store).list_runs(limit=limit)
    if not records:
        echo("no runs yet: try `threefigures demo`")
        return
    echo(
        f"{'id':<22} {'when (UTC)':<20} {'data':<15} {'model':<12} {'epochs':>6} "
        f"{'test acc':>8} {'seconds':>8}  status"
    )
    for r in records:
        acc = "—" if r.test_accuracy is None else f"{100 * r.test_accuracy:.2f}%"
        secs = "—" if r.seconds is None else f"{r.seconds:.1f}"
        layers = ",".join(str(n) for n in r.config.get("model", {}).get("layers", []))
        model = f"{r.model_name}[{layers}]" if layers else r.model_name
        echo(
            f"{r.id:<22} {r.created_at[:19].replace('T', ' '):<20} {r.data_name[:15]:<15} "
            f"{model[:12]:<12} {f'{r.epochs_done}/{r.epochs_planned}':>6} "
            f"{acc:>8} {secs:>8}  {r.status}"
        )


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="Run id or `latest`.")] = "latest",
    store: StoreOpt = None,
) -> None:
    """One run: its config, status, files and per-epoch table."""
    st = open_store(store)
    r = st.resolve(run)
    echo(f"run       {r.id}")
    echo(f"status    {r.status}" + (f" ({r.error})" if r.error else ""))
    echo(f"created   {r.created_at}   updated {r.updated_at}")
    echo(f"data      {r.data_name}")
    echo(f"model     {r.model_name} {r.config.get('model', {}).get('layers')}")
    echo(f"epochs    {r.epochs_done}/{r.epochs_planned}")
    echo(f"test acc  {'—' if r.test_accuracy is None else f'{100 * r.test_accuracy:.2f}%'}")
    echo(f"device    {r.device or '—'}")
    echo(f"folder    {r.run_dir}")
    for kind, path in sorted(st.artifacts(r.id).items()):
        echo(f"  {kind:<10} {path}")
    echo("epoch  train loss   val loss   val acc  seconds")
    for m in st.metrics(r.id):
        vl = "—" if m["val_loss"] is None else f"{m['val_loss']:.4f}"
        va = "—" if m["val_accuracy"] is None else f"{100 * m['val_accuracy']:.2f}%"
        echo(f"{m['epoch']:>5}  {m['train_loss']:>10.4f}  {vl:>9}  {va:>8}  {m['seconds']:>7.2f}")
