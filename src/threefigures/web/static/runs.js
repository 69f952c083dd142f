// The runs page: every stored run with its three figures, its report, and a link that
// makes it the network answering on the drawing page (/?run=ID). Tick 2 to 4 runs and
// Compare overlays their Figure 2 curves (GET /api/runs/{id}/history) on one canvas.
"use strict";

(() => {
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };

  function card(run) {
    const acc = run.test_accuracy == null ? "no test accuracy" : `test accuracy ${(100 * run.test_accuracy).toFixed(2)}%`;
    const meta = `${run.status} · ${run.data_name} · ${run.model} · ${run.epochs_done}/${run.epochs_planned} epochs · ${acc} · ${run.created_at}`;
    const article = el("article", { className: "run panel" });
    article.dataset.run = run.id;
    const pick = el("input", { type: "checkbox", className: "compare-pick", value: run.id });
    pick.setAttribute("aria-label", `Compare run ${run.id}`);
    pick.addEventListener("change", updateCompareBar);
    const head = el("div", { className: "run-head" }, el("h2", { textContent: run.id }));
    head.append(el("label", { className: "pick" }, pick, " Compare"));
    article.append(head, el("p", { className: "meta", textContent: meta }));

    const thumbs = el("div", { className: "thumbs" });
    for (const name of ["figure1", "figure2", "figure3"]) {
      const url = run.figures[name];
      if (!url) continue;
      const label = `Figure ${name.slice(-1)} of run ${run.id}`;
      thumbs.append(el("a", { href: url }, el("img", { src: url, alt: label, loading: "lazy" })));
    }
    if (thumbs.childElementCount) article.append(thumbs);
    else article.append(el("p", { className: "help", textContent: "No figures on disk for this run." }));

    const links = el("div", { className: "links" });
    if (run.image_model && run.files_present) {
      links.append(el("a", { href: `/?run=${encodeURIComponent(run.id)}`, textContent: "Draw with this run" }));
    }
    if (run.report) links.append(el("a", { href: run.report, textContent: "Report" }));
    links.append(el("a", { href: run.url, textContent: "JSON" }));
    article.append(links);

    const others = Object.keys(run.figures).filter((n) => !/^figure[123]$/.test(n));
    if (others.length) {
      const list = el("ul");
      for (const name of others) list.append(el("li", {}, el("a", { href: run.figures[name], textContent: name })));
      article.append(el("details", {}, el("summary", { textContent: `${others.length} more figures` }), list));
    }
    return article;
  }

  // --- Compare: Figure 2 of several runs on one canvas ------------------------------------

  const MAX_COMPARED = 4;
  const compareBtn = document.getElementById("compare");
  const compareHelp = document.getElementById("compare-help");
  const compareView = document.getElementById("compare-view");
  const compareCanvas = document.getElementById("compare-chart");
  const compareStatus = document.getElementById("compare-status");
  let summaries = new Map(); // run id → its summary from /api/runs
  let lastSpec = null;

  const picked = () => [...document.querySelectorAll(".compare-pick:checked")].map((i) => i.value);

  function updateCompareBar() {
    const n = picked().length;
    compareBtn.disabled = n < 2 || n > MAX_COMPARED;
    if (n === 0) compareHelp.textContent = "Tick 2 to 4 runs to overlay their Figure 2.";
    else if (n === 1) compareHelp.textContent = "1 run ticked: tick at least one more.";
    else if (n <= MAX_COMPARED) compareHelp.textContent = `${n} runs ticked.`;
    else compareHelp.textContent = `${n} runs ticked: Compare takes at most ${MAX_COMPARED}.`;
  }

  async function history(id) {
    const res = await fetch(`/api/runs/${encodeURIComponent(id)}/history`);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${id}: ${body.error || `HTTP ${res.status}`}`);
    return body;
  }

  function seriesFor(h, colour) {
    const accuracy = (h.val_accuracy || []).map((v) => (v == null ? null : v));
    return [
      { axis: "left", x: h.batch_epoch || [], y: h.batch_loss || [], colour, width: 0.8, alpha: 0.5 },
      { axis: "left", x: h.epoch || [], y: h.epoch_loss || [], colour, width: 2, marker: "circle", size: 3 },
      { axis: "right", x: h.epoch || [], y: accuracy, colour, width: 1.6, dash: [6, 4], marker: "triangle", size: 4 },
    ];
  }

  async function compare() {
    const ids = picked();
    if (ids.length < 2 || ids.length > MAX_COMPARED) return;
    compareBtn.disabled = true;
    compareStatus.textContent = "Reading the runs’ histories…";
    compareView.hidden = false;
    let histories;
    try {
      histories = await Promise.all(ids.map(history));
    } catch (err) {
      compareStatus.textContent = `Could not compare: ${err.message}`;
      updateCompareBar();
      return;
    }
    const { PALETTE, draw } = window.ThreeFiguresChart;
    const legend = document.getElementById("compare-legend");
    legend.replaceChildren();
    const series = [];
    const words = [];
    let xMax = 1;
    histories.forEach((h, i) => {
      const colour = PALETTE[i % PALETTE.length];
      series.push(...seriesFor(h, colour));
      const bx = h.batch_epoch || [];
      xMax = Math.max(xMax, Math.ceil(bx.length ? bx[bx.length - 1] : 0), ...(h.epoch || []));
      const s = summaries.get(ids[i]) || {};
      const accs = (h.val_accuracy || []).filter((v) => v != null);
      const last = accs.length ? ` · last validation accuracy ${(100 * accs[accs.length - 1]).toFixed(1)}%` : "";
      const empty = !bx.length && !(h.epoch || []).length ? " · no history recorded" : "";
      const text = `${ids[i]} · ${s.model || "?"} · ${s.data_name || "?"}${last}${empty}`;
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = colour;
      const item = el("li", {}, swatch, text);
      item.dataset.run = ids[i];
      legend.append(item);
      words.push(text);
    });
    lastSpec = {
      xMax,
      series,
      xLabel: "epoch",
      leftLabel: "loss (cross-entropy)",
      rightLabel: "validation accuracy",
      rightColour: window.ThreeFiguresChart.COLOURS.ink,
      empty: "None of these runs recorded a history.",
    };
    draw(compareCanvas, lastSpec);
    compareCanvas.dataset.runs = String(ids.length);
    compareCanvas.setAttribute("aria-label", `Figure 2 of ${ids.length} runs overlaid: ${words.join("; ")}.`);
    compareStatus.textContent = `${ids.length} runs compared.`;
    document.getElementById("h-compare").focus();
    compareView.scrollIntoView({ block: "start" });
    updateCompareBar();
  }

  compareBtn.addEventListener("click", compare);
  if (window.ResizeObserver) {
    new ResizeObserver(() => {
      if (lastSpec && !compareView.hidden) window.ThreeFiguresChart.draw(compareCanvas, lastSpec);
    }).observe(compareCanvas);
  }

  async function load() {
    const status = document.getElementById("status");
    try {
      const res = await fetch("/api/runs");
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const runs = await res.json();
      summaries = new Map(runs.map((r) => [r.id, r]));
      document.getElementById("runs").replaceChildren(...runs.map(card));
      status.textContent = runs.length
        ? `${runs.length} run${runs.length === 1 ? "" : "s"}, newest first.`
        : "No runs yet: train one with `threefigures demo`.";
    } catch (err) {
      status.textContent = `Could not list the runs: ${err.message}`;
    }
    document.body.dataset.runsLoaded = "true";
  }

  load();
})();
