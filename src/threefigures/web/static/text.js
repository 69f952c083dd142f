// The "Classify a text" panel: type a sentence, a text run answers as you type.
// Shown only when GET /api/runs lists a finished text run (text_model). Typing is debounced
// (400 ms), then POST /api/predict-text {"text", "run", "method": "saliency"} (JSON) gives the
// class and its probabilities, each token's attribution (in [-1, 1]: red raises the predicted
// class, blue lowers it) and, for a transformer, the attention each token receives per layer
// and head, drawn as a heatmap (rows: layers, or one head; columns: the tokens).
//
// State for people and tests: body[data-text-state] = hidden | idle | waiting | answered |
// error; body[data-text-runs-loaded] once the run list was read; #text-tokens[data-tokens]
// (tokens the network read) and [data-chips] (words shown: "##" pieces join the word before);
// #text-attention[data-rows, data-columns, data-view].
"use strict";

(() => {
  const DEBOUNCE_MS = 400;
  /** Tokens that frame the text rather than belong to it: drawn small and grey. */
  const SPECIAL = new Set(["[CLS]", "[SEP]", "[PAD]", "[MASK]"]);
  const HINT = "Type a sentence to classify it.";
  const $ = (id) => document.getElementById(id);

  const panel = $("text");
  const runSelect = $("text-run");
  const input = $("text-input");
  const resultEl = $("text-result");
  const answerEl = $("text-answer");
  const probsEl = $("text-probs");
  const notesEl = $("text-notes");
  const statusEl = $("text-status");
  const tokensEl = $("text-tokens");
  const tokensCaption = $("text-tokens-caption");
  const summaryEl = $("text-tokens-summary");
  const attentionFig = $("text-attention-fig");
  const headSelect = $("text-head");
  const canvas = $("text-attention");
  const attentionCaption = $("text-attention-caption");
  const tokensCaptionText = tokensCaption.textContent;

  let timer = 0;
  let seq = 0;
  let controller = null;
  let answers = 0; // answers shown since the page opened (the first one loads the model)
  let attention = null; // the last answer's attention, with its tokens
  let layout = null; // where drawAttention put the cells, for the tooltip
  let drawnWidth = 0;

  function setState(state) {
    document.body.dataset.textState = state;
    panel.dataset.state = state;
    resultEl.dataset.state = state;
  }

  // --- colours -------------------------------------------------------------------------------

  function ramp(stops, t) {
    const u = Math.max(0, Math.min(1, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(u));
    const f = u - i;
    return stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  }

  // matplotlib's RdBu_r (the figures' diverging map): -1 dark blue … 0 white … +1 dark red.
  const DIVERGING = [
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
    [247, 247, 247],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
  ];
  // viridis (the figures' sequential map): little attention dark purple, most yellow.
  const SEQUENTIAL = [
    [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
  ];

  const rgb = ([r, g, b]) => `rgb(${r},${g},${b})`;
  const light = ([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  const signed = (v) => (v > 0 ? "+" : v < 0 ? "−" : "") + Math.abs(v).toFixed(2);

  // --- asking the server ---------------------------------------------------------------------

  function cancel() {
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = null;
    seq++; // an answer still on its way is dropped
  }

  function clearAnswer() {
    probsEl.replaceChildren();
    notesEl.replaceChildren();
    tokensEl.replaceChildren();
    tokensEl.dataset.tokens = "0";
    tokensEl.dataset.chips = "0";
    tokensCaption.textContent = tokensCaptionText;
    summaryEl.textContent = "";
    attention = null;
    layout = null;
    attentionFig.hidden = true;
    delete resultEl.dataset.run;
    delete resultEl.dataset.class;
  }

  function showHint() {
    cancel();
    clearAnswer();
    answerEl.textContent = HINT;
    statusEl.textContent = "";
    setState("idle");
  }

  function showError(message) {
    clearAnswer();
    answerEl.textContent = `No answer: ${message}`;
    statusEl.textContent = "";
    setState("error");
  }

  /** The text changed (or the run): ask after a pause in the typing, or now. */
  function schedule(delay = DEBOUNCE_MS) {
    if (panel.hidden) return;
    if (!input.value.trim()) {
      showHint(); // nothing to classify: no request
      return;
    }
    clearTimeout(timer);
    setState("waiting");
    timer = setTimeout(ask, delay);
  }

  async function ask() {
    const text = input.value;
    if (!text.trim()) {
      showHint();
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = ++seq;
    setState("waiting");
    statusEl.textContent = answers
      ? "Asking the network…"
      : "Asking the network… (the first answer loads it: this can take a few seconds)";
    try {
      const res = await fetch("/api/predict-text", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, run: runSelect.value || null, method: "saliency" }),
        signal: controller.signal,
      });
      const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
      if (mine !== seq) return;
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      render(body);
    } catch (err) {
      if (err.name === "AbortError" || mine !== seq) return;
      showError(err.message);
    }
  }

  // --- showing the answer --------------------------------------------------------------------

  function drawProbabilities(r) {
    probsEl.replaceChildren();
    r.probabilities.forEach((p, i) => {
      const li = document.createElement("li");
      li.dataset.class = r.classes[i];
      li.dataset.probability = String(p);
      if (i === r.index) li.className = "winner";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = r.classes[i];
      name.title = r.classes[i];
      const track = document.createElement("span");
      track.className = "track";
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(100 * p).toFixed(1)}%`;
      bar.style.display = "block";
      track.append(bar);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${(100 * p).toFixed(1)}%`;
      li.append(name, track, pct);
      li.setAttribute("aria-label", `${r.classes[i]}: ${(100 * p).toFixed(1)} percent`);
      probsEl.append(li);
    });
  }

  /** One chip per word: a "##" piece joins the chip before it, each piece keeps its colour. */
  function drawTokens(r) {
    const tokens = r.tokens;
    const plain = tokens.filter((t) => !SPECIAL.has(t.token)).map((t) => Math.abs(t.attribution));
    // The shades are scaled to the strongest word piece ([CLS]/[SEP] are not shaded and do not
    // count, as in the figures); the tooltips give the server's values.
    const top = Math.max(1e-9, ...plain);
    const words = [];
    let chip = null;
    tokensEl.replaceChildren();
    tokens.forEach((t, i) => {
      const special = SPECIAL.has(t.token);
      const joins =
        !special && t.token.startsWith("##") && t.token.length > 2 && chip && !chip.special;
      if (!joins) {
        const el = document.createElement("span");
        el.className = special ? "chip special" : "chip";
        chip = { el, special, text: "", score: 0, pieces: [] };
        words.push(chip);
        if (tokensEl.childNodes.length) tokensEl.append(" "); // lines may break between chips
        tokensEl.append(el);
      }
      const piece = document.createElement("span");
      piece.className = "piece";
      const text = joins ? t.token.slice(2) : t.token;
      piece.textContent = text.trim() ? text : "␣";
      piece.dataset.index = String(i);
      piece.dataset.attribution = String(t.attribution);
      const effect =
        t.attribution > 0 ? `raises ${r.class}` : t.attribution < 0 ? `lowers ${r.class}` : "no effect";
      piece.title = `${t.token}: ${signed(t.attribution)} (${effect})`;
      if (!special) {
        const colour = ramp(DIVERGING, (t.attribution / top + 1) / 2);
        piece.style.backgroundColor = rgb(colour);
        piece.style.color = light(colour) < 0.5 ? "#fff" : "";
      }
      chip.el.append(piece);
      chip.text += text;
      chip.score += t.attribution;
      chip.pieces.push(t.token);
    });
    for (const w of words) {
      if (w.pieces.length > 1) w.el.title = `${w.text}: ${w.pieces.join(" ")}`;
      w.el.dataset.attribution = w.score.toFixed(4);
    }
    tokensEl.dataset.tokens = String(tokens.length);
    tokensEl.dataset.chips = String(words.length);
    tokensCaption.textContent =
      `${r.method === "saliency" ? "Saliency (gradient × embedding)" : "Integrated gradients"}` +
      ` for ${r.class}, ${tokens.length} tokens: red words raised its score, blue ones lowered it` +
      " (shades scaled to the strongest; hover a word for its value; grey: [CLS]/[SEP] frame the text).";
    const scored = words.filter((w) => !w.special && w.score !== 0);
    const most = (sign) =>
      scored
        .filter((w) => Math.sign(w.score) === sign)
        .sort((a, b) => sign * (b.score - a.score))
        .slice(0, 3)
        .map((w) => w.text);
    const up = most(1);
    const down = most(-1);
    summaryEl.textContent =
      `${up.length ? `Raised ${r.class} most: ${up.join(", ")}.` : ""}` +
      `${down.length ? ` Lowered it most: ${down.join(", ")}.` : ""}`;
  }

  function fillHeads(att) {
    const shape = `${att.layers}x${att.heads}`;
    if (headSelect.dataset.shape === shape) return;
    const kept = headSelect.value;
    headSelect.replaceChildren(new Option("layer mean (all heads)", "mean"));
    for (let l = 0; l < att.layers; l++) {
      const group = document.createElement("optgroup");
      group.label = `Layer ${l + 1}`;
      for (let h = 0; h < att.heads; h++) {
        group.append(new Option(`L${l + 1} H${h + 1}`, String(l * att.heads + h)));
      }
      headSelect.append(group);
    }
    headSelect.dataset.shape = shape;
    headSelect.value = [...headSelect.options].some((o) => o.value === kept) ? kept : "mean";
  }

  function drawAttention() {
    if (!attention) return;
    const { heads, tokens } = attention;
    const view = headSelect.value || "mean";
    let rows;
    let labels;
    let words;
    if (view === "mean") {
      rows = attention.per_layer;
      labels = rows.map((_, l) => `L${l + 1}`);
      words = `averaged over each layer's ${heads} heads, ${rows.length} layers`;
    } else {
      const k = Number(view);
      rows = [attention.received[k]];
      labels = [`L${Math.floor(k / heads) + 1} H${(k % heads) + 1}`];
      words = `in layer ${Math.floor(k / heads) + 1}, head ${(k % heads) + 1}`;
    }
    const columns = rows.length ? rows[0].length : 0;
    const width = Math.max(240, canvas.clientWidth || canvas.parentElement.clientWidth || 600);
    const dpr = window.devicePixelRatio || 1;
    const LABEL = 52;
    const TOP = 4;
    const ROW = rows.length === 1 ? 40 : 22;
    const BAND = 18; // the tokens under the cells
    const height = TOP + rows.length * ROW + BAND;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const c = canvas.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = "#fff";
    c.fillRect(0, 0, width, height);
    // One scale for what is shown, on a square-root stretch (as in the figures): the few
    // tokens that gather most attention ([CLS], [SEP], punctuation) do not wash out the rest.
    const top = Math.max(1e-9, ...rows.map((row) => Math.max(...row)));
    const colW = (width - LABEL - 2) / Math.max(1, columns);
    c.font = "12px system-ui, sans-serif";
    c.textAlign = "right";
    c.textBaseline = "middle";
    rows.forEach((row, r) => {
      const y = TOP + r * ROW;
      c.fillStyle = "#5b5b63";
      c.fillText(labels[r], LABEL - 6, y + ROW / 2);
      row.forEach((v, t) => {
        c.fillStyle = rgb(ramp(SEQUENTIAL, Math.sqrt(Math.max(0, v) / top)));
        const x0 = Math.round(LABEL + t * colW);
        const x1 = Math.round(LABEL + (t + 1) * colW);
        c.fillRect(x0, y, Math.max(1, x1 - x0), ROW - 1); // a white line between layers
      });
    });
    // The tokens under their columns: each one where they fit, else every k-th.
    c.textAlign = "center";
    c.font = "11px system-ui, sans-serif";
    c.fillStyle = "#5b5b63";
    const every = Math.max(1, Math.ceil(30 / colW));
    const room = every * colW - 4;
    for (let t = 0; t < columns; t += every) {
      let word = tokens[t];
      while (word.length > 1 && c.measureText(word).width > room) word = word.slice(0, -1);
      if (word !== tokens[t]) word = word.length > 1 ? `${word.slice(0, -1)}…` : word;
      c.fillText(word, LABEL + (t + 0.5) * colW, TOP + rows.length * ROW + BAND / 2);
    }
    layout = { LABEL, TOP, ROW, colW, rows, labels };
    drawnWidth = width;
    Object.assign(canvas.dataset, {
      rows: String(rows.length),
      columns: String(columns),
      view: view === "mean" ? "mean" : labels[0],
    });
    const last = rows[rows.length - 1] || [];
    const most = last
      .map((v, t) => [v, tokens[t]])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 3)
      .map(([, tok]) => tok);
    canvas.setAttribute(
      "aria-label",
      `Attention each of the ${columns} tokens receives, ${words}. ` +
        `Most attention${rows.length > 1 ? " in the last layer" : ""}: ${most.join(", ")}.`,
    );
    const shown =
      view === "mean"
        ? `Rows: the ${rows.length} layers, each the mean of its ${heads} heads`
        : `One row: ${labels[0]}`;
    const labelled = every > 1 ? ` (one in ${every} labelled)` : "";
    attentionCaption.textContent =
      `${shown}; columns: the ${columns} tokens in order${labelled}; brighter: more of the` +
      " attention (mean over the tokens attending) lands on that token. Square-root scale;" +
      " hover a cell for its value.";
  }

  canvas.addEventListener("mousemove", (ev) => {
    if (!layout) return;
    const box = canvas.getBoundingClientRect();
    const x = ev.clientX - box.left;
    const y = ev.clientY - box.top;
    const r = Math.floor((y - layout.TOP) / layout.ROW);
    const t = Math.floor((x - layout.LABEL) / layout.colW);
    const row = layout.rows[r];
    if (!row || t < 0 || t >= row.length) {
      canvas.title = "";
      return;
    }
    canvas.title = `${layout.labels[r]} · ${attention.tokens[t]}: ${row[t].toFixed(3)} of the attention`;
  });

  if (window.ResizeObserver) {
    // Drawn at the canvas's own size (crisp labels): redraw when that changes, e.g. when
    // the figure first appears or the window is resized.
    new ResizeObserver(() => {
      if (attention && canvas.clientWidth && Math.abs(canvas.clientWidth - drawnWidth) > 1) {
        drawAttention();
      }
    }).observe(canvas);
  }

  function render(r) {
    answers++;
    answerEl.replaceChildren();
    const label = document.createElement("span");
    label.className = "digit";
    label.textContent = r.class;
    answerEl.append(label, ` ${(100 * r.probability).toFixed(1)}% sure`);
    drawProbabilities(r);
    notesEl.replaceChildren(
      ...r.notes.map((note) => {
        const li = document.createElement("li");
        li.textContent = note;
        return li;
      }),
    );
    drawTokens(r);
    if (r.attention) {
      attention = { ...r.attention, tokens: r.tokens.map((t) => t.token) };
      fillHeads(r.attention);
      attentionFig.hidden = false;
      drawAttention();
    } else {
      attention = null;
      layout = null;
      attentionFig.hidden = true;
    }
    statusEl.textContent = `Run ${r.run} answered in ${r.compute_ms} ms · ${r.tokens.length} tokens`;
    resultEl.dataset.run = r.run;
    resultEl.dataset.class = r.class;
    setState("answered");
  }

  // --- the runs ------------------------------------------------------------------------------

  async function loadRuns() {
    try {
      const res = await fetch("/api/runs");
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const runs = await res.json(); // newest first
      const textRuns = runs.filter((run) => run.text_model && run.status === "finished");
      const kept = runSelect.value;
      runSelect.replaceChildren();
      for (const run of textRuns) {
        const acc = run.test_accuracy == null ? "" : ` · ${(100 * run.test_accuracy).toFixed(1)}%`;
        const opt = new Option(
          `${run.id} · ${run.data_name} · ${run.model}${acc}${run.files_present ? "" : " (files missing)"}`,
          run.id,
        );
        opt.disabled = !run.files_present;
        runSelect.append(opt);
      }
      if (!textRuns.length) {
        cancel();
        panel.hidden = true;
        setState("hidden");
      } else {
        const usable = textRuns.filter((run) => run.files_present).map((run) => run.id);
        runSelect.value = usable.includes(kept) ? kept : usable[0] || textRuns[0].id;
        const appears = panel.hidden;
        panel.hidden = false;
        if (appears) schedule(0); // a text the browser kept (a reload) is asked at once
        else if (runSelect.value !== kept && input.value.trim()) schedule(0);
      }
    } catch (err) {
      if (!panel.hidden) statusEl.textContent = `Could not list the text runs: ${err.message}`;
    }
    document.body.dataset.textRunsLoaded = "true";
  }

  input.addEventListener("input", () => schedule());
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault(); // Ctrl+Enter: ask now, without waiting for the pause
      schedule(0);
    }
  });
  runSelect.addEventListener("change", () => schedule(0));
  headSelect.addEventListener("change", drawAttention);
  // A run that finished training from the Train panel may be a text run: read the list again.
  document.addEventListener("threefigures:trained", () => loadRuns());

  setState("hidden");
  loadRuns();
})();
