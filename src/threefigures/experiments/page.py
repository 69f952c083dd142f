"""``claims.html``: one self-contained page with every claim, its figure, its table, its
verdict and the exact command that reproduces it."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from threefigures.experiments.core import Report
from threefigures.runs.checkpoint import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2rem auto;
padding:0 1rem;color:#1f2933;line-height:1.45}
img{max-width:100%;height:auto;border:1px solid #e4e7eb}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
td,th{border:1px solid #d9dde3;padding:.25rem .5rem;text-align:right}
td:first-child,th:first-child{text-align:left}
.verdict{display:inline-block;padding:.15rem .6rem;border-radius:4px;font-weight:600}
.holds{background:#d7f0df;color:#1b5e20}.mixed{background:#fff1c2;color:#7a5a00}
.does-not-hold-here{background:#fbdada;color:#8e1b1b}
code{background:#f3f4f6;padding:.1rem .3rem;border-radius:3px}
section{border-top:1px solid #e4e7eb;margin-top:2rem;padding-top:.5rem}
"""


def _img(path: Path) -> str:
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_claims_page(reports: Sequence[Report], path: Path) -> Path:
    """Write the page atomically; figures are embedded so it works offline and alone."""
    esc = html.escape
    summary_rows = "".join(
        f'<tr><td><a href="#{esc(r.name)}">{esc(r.name)}</a></td><td>{esc(r.outcome.claim)}</td>'
        f'<td><span class="verdict {r.outcome.verdict.label.replace(" ", "-")}">'
        f"{esc(r.outcome.verdict.label)}</span></td></tr>"
        for r in reports
    )
    sections = []
    for r in reports:
        o = r.outcome
        head = "".join(f"<th>{esc(str(h))}</th>" for h in o.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in o.rows
        )
        comp = "".join(
            f"<tr><td>{esc(c.label)}</td><td>{c.effect:+.4f}</td><td>{c.noise:.4f}</td>"
            f"<td>{esc(c.outcome)}</td></tr>"
            for c in o.comparisons
        )
        notes = "".join(f"<li>{esc(n)}</li>" for n in o.notes)
        mode = "quick mode (tiny sizes, one seed)" if r.quick else f"seeds {r.seeds}"
        sections.append(
            f'<section id="{esc(r.name)}"><h2>{esc(r.name)}</h2>'
            f"<p><b>Claim</b>: “{esc(o.claim)}”<br><b>Question</b>: {esc(o.question)}</p>"
            f'<p><span class="verdict {o.verdict.label.replace(" ", "-")}">'
            f"{esc(o.verdict.label)}</span> {esc(o.verdict.summary)}</p>"
            f"<figure>{_img(o.figure)}</figure>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<details><summary>Comparisons behind the verdict</summary><table><thead><tr>"
            f"<th>comparison</th><th>effect (for the claim)</th><th>noise (2 s.e.)</th>"
            f"<th>outcome</th></tr></thead><tbody>{comp}</tbody></table></details>"
            f"<ul>{notes}</ul>"
            f"<p>Reproduce: <code>{esc(r.command)}</code> · {esc(mode)} · "
            f"{r.seconds:.0f} s · {len(r.runs)} stored runs</p></section>"
        )
    written = esc(datetime.now(UTC).isoformat(timespec="seconds"))
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>threefigures · the article's claims, tested</title><style>{_CSS}</style></head>"
        "<body><h1>The article's claims, tested</h1>"
        "<p>Each claim from <i>How Deep Learning Works in Three Figures</i> is run as a seeded "
        "experiment on real data. The verdict is computed from the numbers: a comparison "
        "counts only when its effect exceeds twice its standard error over seeds (and half a "
        "point); <b>holds</b> = some comparisons support the claim and none contradict it, "
        "<b>mixed</b> = some do each, <b>does not hold here</b> = none support it. "
        f"Written {written}.</p>"
        f"<table><thead><tr><th>experiment</th><th>claim</th><th>verdict</th></tr></thead>"
        f"<tbody>{summary_rows}</tbody></table>{''.join(sections)}</body></html>"
    )
    atomic_write_text(path, page)
    return path
