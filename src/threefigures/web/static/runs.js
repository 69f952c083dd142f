// The runs page: every stored run with its three figures, its report, and a link that
// makes it the network answering on the drawing page (/?run=ID).
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
    article.append(el("h2", { textContent: run.id }), el("p", { className: "meta", textContent: meta }));

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

  async function load() {
    const status = document.getElementById("status");
    try {
      const res = await fetch("/api/runs");
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const runs = await res.json();
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
