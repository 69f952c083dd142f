"""``threefigures applications``: run (or ``--reuse``) the three applications of the article's
Figure 10 — driving, medical diagnosis, language — and draw ``figure10.png`` and
``applications.html`` from their measured numbers.

Each application writes its own folder under the output folder (``drive/``, ``medical/``,
``language/``) with a JSON file of every number; ``--reuse`` reads those back and trains
nothing. A column whose parts are not installed says so instead of failing the page.
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threefigures.applications.language import read_language, run_language
from threefigures.applications.medical import read_medical, roc_arrays, run_medical
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.store import Store

Log = Callable[[str], None]

#: The article's three applications, each in three lines (its theme, in our words).
THEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "drive": (
        "Autonomous vehicles",
        (
            "cameras in, controls out",
            "a CNN reads the road in every frame",
            "learned from demonstrations of driving",
        ),
    ),
    "medical": (
        "Medical diagnosis",
        (
            "measurements of a patient in, a finding out",
            "judged by the cancers it misses and its false alarms",
            "a tool for doctors, never a replacement",
        ),
    ),
    "language": (
        "Language",
        (
            "sentiment analysis of real text",
            "a transformer pretrained on a billion sentence pairs",
            "fine-tuned on a few hundred labelled reviews",
        ),
    ),
}
FOLDERS = {"drive": "drive", "medical": "medical", "language": "language"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _drive_column(summary: dict[str, Any] | None, why: str) -> dict[str, Any]:
    if summary is None:
        return {"key": "drive", "status": "not built yet", "why": why}
    d = summary["drivers"]
    net, expert = d["network"], d["expert"]
    const, rand = d["constant"], d["random"]
    episodes = summary["sizes"]["episodes"]
    return {
        "key": "drive",
        "status": "measured",
        "measured": [
            f"CarRacing-v3, {episodes} track(s) never seen in training: the CNN visited "
            f"{_pct(net['tiles_share'])} of the track tiles, {_pct(net['offroad_share'])} of "
            "its time off the road.",
            f"Baselines on the same tracks: the scripted expert it imitated "
            f"{_pct(expert['tiles_share'])}; a constant action {_pct(const['tiles_share'])}; "
            f"random {_pct(rand['tiles_share'])}.",
            f"Learned from {summary['sizes']['frames_train']:,} frames in "
            f"{summary['seconds']['total']:.0f} s on this CPU.",
        ],
        "picture": f"{FOLDERS['drive']}/{summary['files']['frames']}",
        "numbers": {
            "tiles_share": net["tiles_share"],
            "offroad_share": net["offroad_share"],
            "expert_tiles_share": expert["tiles_share"],
            "constant_tiles_share": const["tiles_share"],
            "random_tiles_share": rand["tiles_share"],
        },
        "pages": {
            "the driving run's page": f"{FOLDERS['drive']}/{summary['files']['html']}",
            "paths on the unseen tracks": f"{FOLDERS['drive']}/{summary['files']['paths']}",
            "saliency: what turned the wheel": f"{FOLDERS['drive']}/{summary['files']['saliency']}",
        },
    }


def _medical_column(summary: dict[str, Any]) -> dict[str, Any]:
    net = summary["network"]
    best = max(summary["baselines"].items(), key=lambda kv: kv[1]["accuracy"])
    sweep = summary["pos_weight_sweep"]
    low, high = sweep[0], sweep[-1]
    return {
        "key": "medical",
        "status": "measured",
        "note": summary.get("disclaimer", ""),
        "measured": [
            f"Breast-cancer aspirates, {summary['test_cases']} unseen cases: the MLP found "
            f"{_pct(net['sensitivity'])} of the cancers with {_pct(net['specificity'])} "
            f"specificity (accuracy {_pct(net['accuracy'])}, ROC AUC {net['roc_auc']:.3f}).",
            f"Baselines: {best[0]} {_pct(best[1]['accuracy'])} (the best classical model); "
            f"always answering benign {_pct(summary['majority_baseline'])}.",
            f"BCE pos_weight {low['pos_weight']:g} → {high['pos_weight']:g}: missed cancers "
            f"{low['missed']} → {high['missed']}, false alarms {low['false_alarms']} → "
            f"{high['false_alarms']}.",
        ],
        "numbers": {
            "accuracy": net["accuracy"],
            "sensitivity": net["sensitivity"],
            "specificity": net["specificity"],
            "roc_auc": net["roc_auc"],
            "best_baseline": best[0],
            "best_baseline_accuracy": best[1]["accuracy"],
            "majority_baseline": summary["majority_baseline"],
        },
        "roc_points": [
            [f"network at {net['threshold']:g}", 1 - net["specificity"], net["sensitivity"]],
            [best[0], 1 - best[1]["specificity"], best[1]["sensitivity"]],
        ],
        "pages": {
            "the run's report": f"{FOLDERS['medical']}/{summary['report']}",
            "Figure 3: ROC curves and confusion": f"{FOLDERS['medical']}/{summary['figure3']}",
            "missed cancers against false alarms": f"{FOLDERS['medical']}/{summary['tradeoff']}",
        },
    }


def _language_column(summary: dict[str, Any]) -> dict[str, Any]:
    if summary["status"] != "measured":
        return {"key": "language", "status": "not built yet", "why": summary.get("why", "")}
    review = summary["review"]
    recall = summary.get("per_class_recall", {})
    mode = "head only (frozen encoder)" if summary.get("freeze") else "fine-tuned"
    return {
        "key": "language",
        "status": "measured",
        "measured": [
            f"Drug reviews (negative / neutral / positive), {summary['test_reviews']} unseen: "
            f"all-MiniLM-L6-v2 {mode} scored {_pct(summary['accuracy'])}.",
            f"Baseline: always answering the most common class "
            f"{_pct(summary['majority_baseline'])}; recall on neutral "
            f"{_pct(recall.get('neutral'))} (the hardest class).",
            f"Below: a test review, truly {review['true']}, answered {review['predicted']} "
            f"({_pct(review['probability'])}); red tokens pushed towards that answer.",
        ],
        "picture": f"{FOLDERS['language']}/{review['figure']}" if review["figure"] else None,
        "tokens": review.get("tokens"),
        "numbers": {
            "accuracy": summary["accuracy"],
            "majority_baseline": summary["majority_baseline"],
        },
        "pages": {
            "the run's report": f"{FOLDERS['language']}/{summary['report']}",
            "the review's token attribution": f"{FOLDERS['language']}/{review['figure']}",
        },
    }


def run_applications(
    out: Path,
    store: Store,
    *,
    quick: bool = False,
    reuse: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """Run or reuse the three applications, then draw Figure 10 and write the page."""
    from threefigures.applications.driving.run import DriveConfig, read_drive, run_drive
    from threefigures.applications.driving.simulator import SimulatorMissingError

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    folders = {k: out / v for k, v in FOLDERS.items()}
    drive_summary: dict[str, Any] | None = None
    drive_why = ""
    if reuse:
        drive_summary = read_drive(folders["drive"])
        medical = read_medical(folders["medical"])
        language = read_language(folders["language"])
    else:
        config = DriveConfig.quick_config() if quick else DriveConfig()
        log("driving: the expert drives, the CNN learns, both drive unseen tracks")
        try:
            drive_summary = run_drive(config, folders["drive"], progress=log).summary
        except SimulatorMissingError as exc:
            drive_why = str(exc)
        medical = run_medical(folders["medical"], store, quick=quick, log=log)
        language = run_language(folders["language"], store, quick=quick, log=log)
    columns = [
        _drive_column(drive_summary, drive_why),
        _medical_column(medical),
        _language_column(language),
    ]
    figure = draw(columns, medical, out)
    summary = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "reused": reuse,
        "columns": columns,
        "seconds": round(time.perf_counter() - started, 1),
        "figure": figure.name,
    }
    atomic_write_text(out / "applications.json", json.dumps(summary, indent=2))
    page = write_page(summary, out / "applications.html")
    summary["figure"], summary["page"] = str(figure), str(page)
    return summary


def draw(columns: list[dict[str, Any]], medical: dict[str, Any], out: Path) -> Path:
    """``out``/figure10.png from the columns (their picture paths are relative to ``out``)."""
    from threefigures.figures.applications import Column, draw_figure10

    drawn = []
    for col in columns:
        heading, theme = THEMES[col["key"]]
        drawn.append(
            Column(
                heading=heading,
                theme=theme,
                measured=col.get("measured", ()),
                picture=out / col["picture"] if col.get("picture") else None,
                roc=roc_arrays(medical) if col["key"] == "medical" else None,
                roc_points=[tuple(p) for p in col.get("roc_points", [])],
                tokens=[(str(t), float(s)) for t, s in col["tokens"]]
                if col.get("tokens")
                else None,
                status=col["status"],
                why=col.get("why", ""),
            )
        )
    return draw_figure10(
        drawn,
        out / "figure10.png",
        title="Figure 10 — applications, each measured on a real run here",
        note=medical.get("disclaimer", ""),
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_page(summary: dict[str, Any], path: Path) -> Path:
    """applications.html: Figure 10 and each column's numbers and pictures, self-contained."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>threefigures · Figure 10</title><style>body{font-family:system-ui,sans-serif;"
        "max-width:1200px;margin:2rem auto;padding:0 1rem;color:#1d2330;line-height:1.45}"
        "img{max-width:100%;border:1px solid #e3e6ee}.muted{color:#556}</style></head><body>",
        "<h1>Figure 10 — applications, measured</h1>",
        f'<p class="muted">Written {esc(summary["written"])}'
        + (" · quick sizes" if summary["quick"] else "")
        + (" · reused stored results" if summary["reused"] else "")
        + ".</p>",
        f'<img src="{_data_uri(path.parent / "figure10.png")}" alt="Figure 10">',
    ]
    for col in summary["columns"]:
        heading, theme = THEMES[col["key"]]
        parts.append(f'<h2 id="{esc(col["key"])}">{esc(heading)}</h2>')
        parts.append("<p class=muted>" + " · ".join(esc(t) for t in theme) + "</p>")
        if col["status"] != "measured":
            parts.append(f"<p><b>{esc(col['status'])}</b>: {esc(col.get('why', ''))}</p>")
            continue
        parts.append("<ul>" + "".join(f"<li>{esc(m)}</li>" for m in col["measured"]) + "</ul>")
        if col.get("note"):
            parts.append(f"<p><b>{esc(col['note'])}</b></p>")
        for name, target in col.get("pages", {}).items():
            file = path.parent / target
            if file.suffix == ".png" and file.is_file():
                parts.append(
                    f'<figure><img src="{_data_uri(file)}" alt="{esc(name)}">'
                    f"<figcaption>{esc(name)}</figcaption></figure>"
                )
            else:  # a page beside this one: a relative link works wherever the folder goes
                parts.append(f'<p><a href="{esc(target)}">{esc(name)}</a></p>')
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
    return path


__all__ = ["THEMES", "draw", "run_applications", "write_page"]
