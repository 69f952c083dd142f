"""A run → one self-contained ``report.html`` (figures embedded, works offline)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threefigures.config import RunConfig
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.store import RunRecord
from threefigures.training import EvalResult, History

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2rem auto;
padding:0 1rem;color:#1d2330;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.lead{color:#556;margin-top:0}.big{font-size:2.2rem;font-weight:700;color:#16794a}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #e3e6ee;border-radius:4px}
figcaption{color:#556;font-size:.92rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #d5d9e3;padding:.25rem .6rem;text-align:right}
th{background:#f2f4f8}td:first-child,th:first-child{text-align:left}
pre{background:#f6f7fa;padding:.8rem;overflow:auto;font-size:.85rem;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1rem}
.card{background:#f6f7fa;border-radius:6px;padding:.7rem 1rem}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _confusion_table(matrix: Any, classes: Sequence[str], *, shares: bool = False) -> str:
    """The confusion matrix as an HTML table, each cell shaded by its share of the row;
    ``shares`` writes the row-normalised percentages instead of the counts."""
    head = "".join(f"<th>{i}</th>" for i in range(len(classes)))
    rows = []
    for i, row in enumerate(matrix):
        total = max(int(row.sum()), 1)
        cells = []
        for j, value in enumerate(row):
            share = int(value) / total
            hue = "22,121,74" if i == j else "200,40,40"
            style = f"background:rgba({hue},{0.08 + 0.8 * share:.2f})" if value else ""
            text = (f"{100 * share:.0f}%" if value else "·") if shares else str(int(value))
            cells.append(f'<td style="{style}">{text}</td>')
        label = html.escape(f"{i} · {classes[i]}")
        rows.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    table_id = "confusion-shares" if shares else "confusion"
    return (
        f'<table class="confusion" id="{table_id}"><thead><tr><th>true \\ predicted</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _inside_section(figures: Sequence[Any]) -> str:
    """The "Looking inside" section: each figure (key, title, path, caption) in turn."""
    if not figures:
        return ""
    esc = html.escape
    parts = [
        '<h2 id="looking-inside">Looking inside</h2>',
        "<p>Three answers to “deep learning is a black box”: attribution (which input made "
        "the answer), intermediate layers (what the network computes on the way), and "
        "error analysis — computed from this run's weights on a fixed small sample.</p>",
    ]
    for fig in figures:
        parts.append(
            f'<h3 id="{esc(fig.key)}">{esc(fig.title)}</h3><figure>{_img(fig.path)}'
            f"<figcaption>{esc(fig.caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _binary_section(extra: Mapping[str, Any], figures: Mapping[str, Path]) -> str:
    """A binary table run: sensitivity, specificity and AUC beside the classical baselines,
    and the missed-against-false-alarm figure."""
    metrics = extra.get("binary_metrics")
    if not metrics:
        return ""
    positive = str(extra.get("positive_class", "positive"))
    rows = [("network (this run)", metrics), *extra.get("baselines", {}).items()]
    body = [
        (
            name,
            f"{m['threshold']:g}",
            _pct(m["accuracy"]),
            _pct(m["sensitivity"]),
            _pct(m["specificity"]),
            "—" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}",
            str(m["fn"]),
            str(m["fp"]),
        )
        for name, m in rows
    ]
    header = (
        "Classifier",
        "Threshold",
        "Accuracy",
        f"Sensitivity (recall on {positive})",
        "Specificity",
        "ROC AUC",
        f"Missed {positive}",
        "False alarms",
    )
    tradeoff = figures.get("tradeoff")
    figure = (
        f"<figure>{_img(tradeoff)}<figcaption>Moving the threshold trades missed "
        f"{html.escape(positive)} cases for false alarms (BCE's pos_weight moves the same "
        "balance at training time).</figcaption></figure>"
        if tradeoff is not None
        else ""
    )
    return (
        '<h3 id="binary-metrics">Sensitivity, specificity and the classical baselines</h3>'
        f"<p>Same split, same standardised features.</p>{_table(header, body)}{figure}"
    )


def write_report(
    path: Path,
    *,
    record: RunRecord,
    config: RunConfig,
    data: Mapping[str, Any],
    history: History,
    test: EvalResult,
    classes: Sequence[str],
    figures: Mapping[str, Path],
    timings: Mapping[str, float],
    versions: Mapping[str, str],
    params: int,
    structure: tuple[Sequence[str], Sequence[Sequence[str]]],
    extra: Mapping[str, Any],
    inside: Sequence[Any] = (),
) -> Path:
    """Write the report atomically and return its path."""
    esc = html.escape
    sizes = extra.get("sizes", {})
    layer_header, layer_rows = structure
    epoch_rows = [
        (
            e,
            _num(history.epoch_loss[i]),
            _num(history.val_loss[i] if i < len(history.val_loss) else None),
            _pct(history.val_accuracy[i] if i < len(history.val_accuracy) else None),
            f"{history.epoch_seconds[i]:.2f}" if i < len(history.epoch_seconds) else "—",
        )
        for i, e in enumerate(history.epoch)
    ]
    per_class = test.per_class_accuracy()
    totals = test.confusion.sum(axis=1)
    class_rows = [
        (f"{i} · {name}", int(totals[i]), int(test.confusion[i, i]), _pct(per_class[i]))
        for i, name in enumerate(classes)
    ]
    timing_rows = [(k.replace("_", " "), f"{v:.2f} s") for k, v in timings.items()]
    version_rows = list(versions.items())
    size_text = ", ".join(f"{k} {v:,}" for k, v in sizes.items()) if sizes else ""
    n_test = int(totals.sum())
    notes = extra.get("notes")
    notes_html = f"<h3>Notes</h3><pre>{esc(str(notes))}</pre>" if notes else ""
    baseline = extra.get("majority_baseline")
    baseline_html = (
        f"<br>majority-class baseline {_pct(float(baseline))}" if baseline is not None else ""
    )
    binary_html = _binary_section(extra, figures)
    disclaimer = extra.get("disclaimer")
    disclaimer_html = (
        f'<p class="lead" id="disclaimer"><b>{esc(str(disclaimer))}</b></p>' if disclaimer else ""
    )
    figure3_caption = (
        "Each classifier's ROC curve over every threshold, its operating point, and the "
        "network's confusion matrix at the run's threshold."
        if "binary_metrics" in extra
        else "A fixed random sample of test images; each with its predicted class and the ten "
        "output probabilities. Wrong predictions are marked."
    )
    written = esc(datetime.now(UTC).isoformat(timespec="seconds"))
    epoch_header = ("Epoch", "Training loss", "Validation loss", "Validation accuracy", "Seconds")
    run_json = esc(json.dumps({"run": record.id, "test_accuracy": test.accuracy}))
    inside_html = _inside_section(inside)
    body = f"""
<h1>threefigures · run {esc(record.id)}</h1>
<p class="lead">The article's three figures, drawn from this run: {esc(config.model.name)}
{esc(str(list(config.model.layers)))} trained on <b>{esc(str(data.get("name")))}</b>
for {len(history.epoch)} epoch(s). Status: {esc(record.status)}. Written {written}.</p>
{disclaimer_html}
<div class="grid">
 <div class="card">Test accuracy<div class="big" id="test-accuracy">{_pct(test.accuracy)}</div>
   on {n_test:,} test examples never used in training (test loss {_num(test.loss)})
   {baseline_html}</div>
 <div class="card"><b>Data</b>: {esc(str(data.get("source", "")))}<br>{esc(size_text)}</div>
 <div class="card"><b>Device</b>: {esc(str(extra.get("device", record.device or "—")))}<br>
   <b>Precision</b>: {esc(str(extra.get("precision", "—")))}<br><b>Parameters</b>: {params:,}</div>
</div>

<h2>Figure 1 — the network</h2>
<figure>{_img(figures["figure1"])}<figcaption>Layers as columns of neurons; counts and
parameters computed from the model itself.</figcaption></figure>
{_table(layer_header, layer_rows)}
{notes_html}

<h2>Figure 2 — training</h2>
<figure>{_img(figures["figure2"])}<figcaption>Training loss per batch (faint) and per epoch
(bold); validation accuracy on the right axis.</figcaption></figure>
{_table(epoch_header, epoch_rows)}

<h2>Figure 3 — inference</h2>
<figure>{_img(figures["figure3"])}<figcaption>{esc(figure3_caption)}</figcaption></figure>
{binary_html}

<h2>Errors: confusion matrix and per-class accuracy</h2>
<p>Rows: the true class; columns: the predicted class; the diagonal is correct. Shading is
the share of the row.</p>
{_confusion_table(test.confusion, classes)}
<p>The same, row-normalised: each true class's examples as shares of its row.</p>
{_confusion_table(test.confusion, classes, shares=True)}
{_table(("Class", "Test examples", "Correct", "Accuracy"), class_rows)}

{inside_html}
<h2>Configuration</h2>
<pre>{esc(config.to_json())}</pre>
<h2>Timings</h2>
{_table(("What", "Time"), timing_rows)}
<h2>Versions and machine</h2>
{_table(("Component", "Version"), version_rows)}
<p>Reproduce: <code>threefigures train --data {esc(config.data.name)} --layers
{esc(",".join(str(n) for n in config.model.layers))} --activation {esc(config.model.activation)}
--epochs {config.train.epochs} --batch-size {config.train.batch_size} --lr {config.train.lr}
--optimizer {esc(config.train.optimizer)} --seed {config.train.seed}</code></p>
<script type="application/json" id="run-data">{run_json}</script>
"""
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>threefigures run {esc(record.id)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>"
    )
    atomic_write_text(path, page)
    return path
