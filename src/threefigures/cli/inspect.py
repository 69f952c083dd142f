"""``predict``, ``explain`` and ``inside``: what a stored model answers, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from threefigures.cli.common import MethodOpt, RunOpt, StoreOpt, open_store, say

TextOpt = Annotated[
    list[str] | None,
    typer.Option("--text", help="A text for a text run (drug-reviews, names); repeat for several."),
]


def _predict_texts(texts: list[str], run: str, as_json: bool, store: Path | None) -> None:
    from threefigures.outputs.text import predict_texts
    from threefigures.runner import load_run_model

    model, record, config, classes = load_run_model(open_store(store), run)
    results = predict_texts(texts, model, config, classes, record.id)
    if as_json:
        payload = {"run": record.id, "predictions": [r.to_json() for r in results]}
        say(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for res in results:
            shown = res.text if len(res.text) <= 60 else res.text[:57] + "…"
            if res.error:
                say(f"error: {shown!r}: {res.error}", err=True)
                continue
            top = ", ".join(f"{c} {100 * p:.1f}%" for c, p in res.top or [])
            say(f"{shown!r}: {res.class_name}   ({top})")
            for note in res.notes:
                say(f"    {note}")
    if any(r.error for r in results):
        raise typer.Exit(1)


def _say_text_explanations(run_id: str, method: str, results: list, as_json: bool) -> None:
    if as_json:
        payload = {
            "run": run_id,
            "method": method,
            "explanations": [r.to_json() for r in results],
        }
        say(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for res in results:
            shown = res.text if len(res.text) <= 60 else res.text[:57] + "…"
            if res.error:
                say(f"error: {shown!r}: {res.error}", err=True)
                continue
            delta = "" if res.delta is None else f", completeness error {res.delta:+.4f}"
            say(
                f"{shown!r}: {res.class_name} ({100 * res.probability:.1f}%) — {method} for "
                f"class {res.target}{delta} → {res.figure}"
            )
            if res.attention_figure is not None:
                say(f"    attention per layer and head → {res.attention_figure}")
            for note in res.notes:
                say(f"    {note}")
    if any(r.error for r in results):
        raise typer.Exit(1)


def predict(
    images: Annotated[
        list[str] | None, typer.Argument(help="Image files (any format Pillow opens).")
    ] = None,
    text: TextOpt = None,
    run: RunOpt = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    show_input: Annotated[
        Path | None,
        typer.Option("--show-input", help="Write the 28×28 images the network saw here."),
    ] = None,
    explain_: Annotated[
        bool,
        typer.Option("--explain", help="Also write an attribution heatmap for each image."),
    ] = False,
    method: MethodOpt = "integrated-gradients",
    explain_dir: Annotated[
        Path, typer.Option("--explain-dir", help="Where --explain writes its figures.")
    ] = Path("explanations"),
    store: StoreOpt = None,
) -> None:
    """Classify your own images of digits (photos, scans, drawings), or texts (--text) with a
    run trained on text."""
    from threefigures.errors import ConfigError
    from threefigures.outputs.predict import explain_predictions, save_network_inputs
    from threefigures.runner import load_run_model, predict_images

    if text and images:
        raise ConfigError("give image files or --text, not both")
    if text:
        _predict_texts(text, run, as_json, store)
        return
    if not images:
        raise ConfigError("nothing to predict: give image files, or --text for a text run")
    model, record, config, classes = load_run_model(open_store(store), run)
    if config.model.vocab_size > 0:
        raise ConfigError(
            f'run {record.id} reads text ({config.data.name}), not images: pass --text "..."'
        )
    results = predict_images(images, model, classes)
    if show_input is not None:
        save_network_inputs(results, show_input)
    figures: dict[int, Path] = {}
    if explain_:
        figures = explain_predictions(model, results, classes, explain_dir, method=method)
    failed = [r for r in results if r.error]
    if as_json:
        rows = []
        for i, res in enumerate(results):
            row = res.to_json()
            if i in figures:
                row["explanation"] = {"method": method, "figure": str(figures[i])}
            rows.append(row)
        say(json.dumps({"run": record.id, "predictions": rows}, indent=2))
    else:
        for res in results:
            if res.error:
                say(f"error: {res.error}", err=True)
                continue
            top = ", ".join(f"{c} {100 * p:.1f}%" for c, p in res.top or [])
            say(f"{res.path}: {res.class_name}   ({top})")
            for note in res.notes:
                say(f"    {note}")
    if failed:
        raise typer.Exit(1)


def explain(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Image files; for a names run, names (e.g. Anna Bob)."),
    ] = None,
    text: TextOpt = None,
    run: RunOpt = "latest",
    method: MethodOpt = "integrated-gradients",
    target: Annotated[
        int | None,
        typer.Option("--target", help="Class index to explain (default: the prediction)."),
    ] = None,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Grad-CAM layer, e.g. conv1 (default: last).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the figures (default RUN/explain).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    store: StoreOpt = None,
) -> None:
    """Why did the network answer that? One attribution figure per input (Captum); for a
    transformer, its attention per layer and head too."""
    from threefigures.errors import ConfigError
    from threefigures.runner import explain_inputs, load_run_model

    if text and inputs:
        raise ConfigError("give inputs or --text, not both")
    if not text and not inputs:
        raise ConfigError("nothing to explain: give image files (or names), or --text")
    model, record, config, classes = load_run_model(open_store(store), run)
    folder = out if out is not None else record.run_dir / "explain"
    from threefigures.outputs.text import WORDPIECE_DATASETS, explain_texts

    if text or config.data.name in WORDPIECE_DATASETS:
        explained = explain_texts(
            text or inputs or [],
            model,
            config,
            classes,
            folder,
            record.id,
            method=method,
            target=target,
        )
        _say_text_explanations(record.id, method, explained, as_json)
        return
    assert inputs is not None
    results = explain_inputs(
        inputs, model, config, classes, folder, method=method, target=target, layer=layer
    )
    if as_json:
        payload = {
            "run": record.id,
            "method": method,
            "explanations": [r.to_json() for r in results],
        }
        say(json.dumps(payload, indent=2))
    else:
        for res in results:
            if res.error:
                say(f"error: {res.error}", err=True)
                continue
            assert res.probability is not None
            delta = "" if res.delta is None else f", completeness error {res.delta:+.4f}"
            say(
                f"{res.source}: {res.class_name} ({100 * res.probability:.1f}%) — {method} for "
                f"class {res.target}{delta} → {res.figure}"
            )
    if any(r.error for r in results):
        raise typer.Exit(1)


def inside(
    run: RunOpt = "latest",
    input_image: Annotated[
        str | None,
        typer.Option("--input", help="An image of yours to follow through the network."),
    ] = None,
    method: MethodOpt = "integrated-gradients",
    projection: Annotated[
        str, typer.Option("--projection", help="Embedding view: pca | tsne")
    ] = "pca",
    sample: Annotated[
        int, typer.Option("--sample", help="Test examples in the embedding view.")
    ] = 1000,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the figures (default RUN/inside).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Look inside a run: attribution, weights, activations, filters and feature maps, gates
    and attention, embeddings layer by layer, confusion and top losses."""
    from threefigures.errors import ConfigError
    from threefigures.runner import inside_run

    if sample < 3:
        raise ConfigError("--sample needs at least 3 examples")
    result, record = inside_run(
        run,
        store=open_store(store),
        input_path=input_image,
        out_dir=out,
        method=method,
        projection=projection,
        sample=sample,
    )
    say(f"run {record.id}: {len(result.figures)} figures in {result.seconds:.1f} s")
    for fig in result.figures:
        say(f"  {fig.title}: {fig.path}")
    separation = result.numbers.get("separation")
    if separation:
        text = ", ".join(f"{k} {v:.2f}" for k, v in separation.items() if v is not None)
        say(f"  class separation (silhouette) by layer: {text}")
