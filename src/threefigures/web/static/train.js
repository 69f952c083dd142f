// The Train panel: choose a network, Start, and watch Figure 2 draw itself from the run's
// event stream (GET /api/train/{run}/events): batch losses as a thin line, each epoch's mean
// loss and validation loss as points, validation accuracy on the right axis, and the first
// layer's weights as an image that turns from noise into strokes. Stop, then Resume.
//
// It tells the drawing page (app.js) about the run through two DOM events on document:
// "threefigures:training" {run, label} while it trains (so the pad can ask it), and
// "threefigures:trained" {run, select} when it ends (the run list is read again).
//
// State for people and tests: body[data-train-state] = idle | starting | training |
// stopping | interrupted | finished | error; #train-chart[data-points, data-epochs];
// #train-weights[data-updates]; body[data-train-ready] once the options are read.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const Chart = window.ThreeFiguresChart;
  const C = Chart.COLOURS;

  const panel = $("train");
  const form = $("train-form");
  const fields = $("train-fields");
  const startBtn = $("train-start");
  const stopBtn = $("train-stop");
  const resumeBtn = $("train-resume");
  const errorEl = $("train-error");
  const bar = $("train-bar");
  const progressEl = $("train-progress");
  const statusEl = $("train-status");
  const canvas = $("train-chart");
  const weightsImg = $("train-weights");
  const weightsCaption = $("train-weights-caption");
  const resultEl = $("train-result");

  const MODEL_NAMES = {
    perceptron: "perceptron",
    mlp: "mlp",
    cnn: "cnn (conv)",
    rnn: "rnn (rows)",
  };
  const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  let options = null; // GET /api/train/options
  let state = "idle";
  let run = null; // the run this panel shows
  let source = null; // its EventSource
  let lastId = -1; // the last numeric event id read from `source`
  let info = { epochs: 0, model: "", data: "" };
  let curves = null;
  let drawQueued = false;
  let weightsUpdates = 0;
  let weightsSrc = "";

  // --- state -----------------------------------------------------------------------------

  function setState(next) {
    state = next;
    document.body.dataset.trainState = next;
    panel.dataset.state = next;
    const busy = ["starting", "training", "stopping"].includes(next);
    const usable = Boolean(options && options.enabled);
    fields.disabled = busy || !usable;
    startBtn.disabled = busy || !usable;
    stopBtn.disabled = next !== "training";
    stopBtn.textContent = next === "stopping" ? "Stopping…" : "Stop";
    resumeBtn.hidden = next !== "interrupted";
    resumeBtn.disabled = next !== "interrupted";
    startBtn.textContent = next === "starting" ? "Starting…" : "Start";
  }

  function showError(message) {
    errorEl.textContent = message || "";
    document.body.dataset.trainError = message ? "true" : "false";
  }

  // --- the form ----------------------------------------------------------------------------

  function fillSelect(select, values, chosen, names = {}) {
    select.replaceChildren();
    for (const value of values) {
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = names[value] || value;
      select.append(opt);
    }
    if (values.includes(chosen)) select.value = chosen;
  }

  const asText = (v) => (Array.isArray(v) ? v.join(",") : v == null ? "" : String(v));

  function buildForm(opts) {
    const d = opts.defaults;
    const ch = opts.choices;
    const lim = opts.limits || {};
    fillSelect($("train-data"), ch.data, d.data);
    fillSelect($("train-model"), ch.model, d.model, MODEL_NAMES);
    fillSelect($("train-activation"), ch.activation, d.activation);
    fillSelect($("train-optimizer"), ch.optimizer, d.optimizer);
    $("train-layers").value = asText(d.layers);
    layerDefaults = opts.model_layers || {};
    $("train-channels").value = asText(d.channels);
    $("train-dropout").value = String(d.dropout);
    $("train-lr").value = String(d.lr);
    $("train-batch").value = String(d.batch_size);
    $("train-epochs").value = String(d.epochs);
    if (lim.epochs) $("train-epochs").max = String(lim.epochs);
    if (lim.batch_size) $("train-batch").max = String(lim.batch_size);
    if (lim.layers && lim.units) {
      $("train-layers-help").textContent =
        `units per layer, e.g. 256 or 512,128 (up to ${lim.layers} layers of ${number.format(lim.units)})`;
    }
    if (lim.channels) {
      $("train-channels-help").textContent = `per convolution, e.g. 16,32 (at most ${lim.channels} each)`;
    }
    const box = $("train-augment");
    box.replaceChildren();
    const chosen = Array.isArray(d.augment) ? d.augment : asText(d.augment).split(",");
    for (const op of ch.augment) {
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "augment";
      input.value = op;
      input.id = `train-augment-${op}`;
      input.checked = chosen.includes(op);
      const label = document.createElement("label");
      label.htmlFor = input.id;
      label.textContent = op;
      const item = document.createElement("span");
      item.className = "check";
      item.append(input, label);
      box.append(item);
    }
    showModelFields();
  }

  // Each model's own default layers (the CNN's head is 128, the MLP's hidden layer 256), as
  // `threefigures train --model NAME` has them, until the user types a value of their own.
  let layerDefaults = {};
  $("train-layers").addEventListener("input", () => {
    $("train-layers").dataset.edited = "true";
  });

  function showModelFields() {
    const model = $("train-model").value;
    for (const el of form.querySelectorAll("[data-models]")) {
      el.hidden = !el.dataset.models.split(" ").includes(model);
    }
    if ($("train-layers").dataset.edited !== "true" && layerDefaults[model] !== undefined) {
      $("train-layers").value = layerDefaults[model];
    }
  }

  $("train-model").addEventListener("change", showModelFields);

  // The options the server is sent: only those the chosen model uses.
  function readForm() {
    const model = $("train-model").value;
    const body = {
      data: $("train-data").value,
      model,
      optimizer: $("train-optimizer").value,
      augment: [...form.querySelectorAll("input[name=augment]:checked")].map((i) => i.value),
    };
    const numbers = [
      ["lr", "train-lr", "Learning rate"],
      ["batch_size", "train-batch", "Batch size"],
      ["epochs", "train-epochs", "Epochs"],
    ];
    if (model !== "perceptron") numbers.push(["dropout", "train-dropout", "Dropout"]);
    for (const [key, id, name] of numbers) {
      const text = $(id).value.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) throw new Error(`${name}: enter a number`);
      body[key] = value;
    }
    if (model === "mlp" || model === "cnn") {
      body.layers = $("train-layers").value.trim();
      body.activation = $("train-activation").value;
    }
    if (model === "cnn") body.channels = $("train-channels").value.trim();
    return body;
  }

  // --- talking to the server ---------------------------------------------------------------

  async function send(url, body) {
    const init = { method: "POST" };
    if (body !== undefined) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(answer.error || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return answer;
  }

  async function getJSON(url) {
    const res = await fetch(url);
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(answer.error || `${url}: HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return answer;
  }

  const trainUrl = (id, what) => `/api/train/${encodeURIComponent(id)}/${what}`;

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (startBtn.disabled) return;
    let body;
    try {
      body = readForm();
    } catch (err) {
      showError(err.message);
      return;
    }
    const before = state;
    showError("");
    setState("starting");
    try {
      const answer = await send("/api/train", body);
      attach(answer.run, answer.events);
    } catch (err) {
      showError(err.message);
      setState(before);
      if (err.status === 409) refreshOptions(); // another training runs: show that one
    }
  });

  stopBtn.addEventListener("click", async () => {
    if (!run || state !== "training") return;
    setState("stopping");
    statusEl.textContent = "Stopping after the current batch…";
    try {
      await send(trainUrl(run, "stop"));
    } catch (err) {
      showError(err.message);
      if (state === "stopping" && source) setState("training"); // the end event will say
    }
  });

  resumeBtn.addEventListener("click", async () => {
    if (!run || state !== "interrupted") return;
    showError("");
    setState("starting");
    try {
      const answer = await send(trainUrl(run, "resume"));
      attach(answer.run || run, answer.events);
    } catch (err) {
      showError(err.message);
      setState("interrupted");
    }
  });

  // --- the event stream -------------------------------------------------------------------

  function emptyCurves() {
    return { bx: [], by: [], ex: [], eLoss: [], vLoss: [], vAcc: [] };
  }

  function closeStream() {
    if (source) source.close();
    source = null;
  }

  // Show run `id` from the start of its stream (a resumed stream replays the earlier epochs
  // first, and a late subscriber gets everything it missed, so the chart starts empty).
  function attach(id, eventsUrl) {
    closeStream();
    if (id !== run) {
      weightsUpdates = 0;
      weightsSrc = "";
      weightsImg.hidden = true;
      weightsImg.removeAttribute("src");
      weightsImg.dataset.updates = "0";
    }
    run = id;
    info = { epochs: 0, model: "", data: "" };
    curves = emptyCurves();
    lastId = -1;
    resultEl.hidden = true;
    bar.value = 0;
    progressEl.textContent = `Run ${id}: waiting for the first batch…`;
    statusEl.textContent = "";
    if (state !== "starting") setState("starting");
    queueDraw();
    announceTraining();

    const es = new EventSource(eventsUrl || trainUrl(id, "events"));
    source = es;
    const on = (name, handle) =>
      es.addEventListener(name, (ev) => {
        if (es !== source) return;
        const n = Number(ev.lastEventId);
        if (ev.lastEventId !== "" && Number.isInteger(n)) {
          if (n <= lastId) return; // replayed again after a reconnection: already drawn
          lastId = n;
        }
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        handle(data);
      });
    on("start", onStart);
    on("batch", onBatch);
    on("epoch", onEpoch);
    on("weights", onWeights);
    on("end", onEnd);
    // "error" is both the server's event (with data: the run failed) and EventSource's own
    // (without: the connection dropped; it reconnects unless it gave up).
    es.addEventListener("error", (ev) => {
      if (es !== source) return;
      if (typeof ev.data === "string") {
        let data = {};
        try {
          data = JSON.parse(ev.data);
        } catch {
          data = { message: ev.data };
        }
        onFailed(data);
      } else if (es.readyState === EventSource.CLOSED) {
        closeStream();
        showError("Lost the connection to the training; reload the page to see it again.");
        setState("error");
      } else {
        progressEl.textContent = "Connection lost; reconnecting…";
      }
    });
  }

  function announceTraining() {
    const label = `${run} (training…)`;
    document.dispatchEvent(new CustomEvent("threefigures:training", { detail: { run, label } }));
  }

  function onStart(d) {
    info = { epochs: d.epochs, model: d.model || "", data: d.data || "" };
    if (state === "starting") setState("training");
    const what = [d.model, d.data].filter(Boolean).join(" on ");
    const from = d.resumed ? `, resumed after epoch ${d.epochs_done}` : "";
    statusEl.textContent = `Training run ${d.run}: ${what}, ${d.epochs} epochs${from}.`;
    queueDraw();
  }

  function duration(seconds) {
    if (seconds == null || !Number.isFinite(seconds)) return "";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s left`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s left`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
  }

  function onBatch(d) {
    if (state === "starting") setState("training");
    const xs = d.positions || [];
    const ys = d.losses || [];
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
      curves.bx.push(xs[i]);
      curves.by.push(ys[i]);
    }
    const epochs = info.epochs || d.epochs || "?";
    if (d.replayed || d.step == null) {
      // a resumed run's earlier epochs, read back from the store
      progressEl.textContent = `epochs 1–${d.epoch} of ${epochs} (trained before it was stopped)`;
      queueDraw();
      return;
    }
    const parts = [`epoch ${d.epoch}/${epochs}`, `batch ${d.step}/${d.steps}`];
    if (Number.isFinite(d.examples_per_second)) parts.push(`${number.format(d.examples_per_second)} examples/s`);
    const left = duration(d.seconds_left);
    if (left) parts.push(left);
    progressEl.textContent = parts.join(" · ");
    if (info.epochs && d.steps) bar.value = Math.min(1, (d.epoch - 1 + d.step / d.steps) / info.epochs);
    queueDraw();
  }

  const pct = (v) => `${(100 * v).toFixed(1)}%`;

  function onEpoch(d) {
    if (state === "starting") setState("training");
    if (!info.epochs && d.epochs) info.epochs = d.epochs;
    curves.ex.push(d.epoch);
    curves.eLoss.push(d.train_loss);
    curves.vLoss.push(d.val_loss == null ? null : d.val_loss);
    curves.vAcc.push(d.val_accuracy == null ? null : d.val_accuracy);
    if (info.epochs) bar.value = Math.min(1, d.epoch / info.epochs);
    const words = [`training loss ${fmtLoss(d.train_loss)}`];
    if (d.val_loss != null) words.push(`validation loss ${fmtLoss(d.val_loss)}`);
    if (d.val_accuracy != null) words.push(`validation accuracy ${pct(d.val_accuracy)}`);
    const secs = Number.isFinite(d.seconds) ? ` (${d.seconds.toFixed(1)} s)` : "";
    statusEl.textContent = `Epoch ${d.epoch}/${d.epochs || info.epochs} done: ${words.join(", ")}${secs}.`;
    queueDraw();
  }

  function fmtLoss(v) {
    return Number.isFinite(v) ? v.toPrecision(3) : String(v);
  }

  function onWeights(d) {
    if (!d.image || d.image === weightsSrc) return;
    weightsSrc = d.image;
    weightsImg.src = d.image;
    weightsImg.hidden = false;
    weightsUpdates += 1;
    weightsImg.dataset.updates = String(weightsUpdates);
    const when = d.epoch === 0 && d.step === 0 ? "before training" : `epoch ${d.epoch}, batch ${d.step}`;
    const caption = `${d.caption || "The first layer’s weights"} (${when})`;
    weightsCaption.textContent = caption;
    weightsImg.alt = caption;
  }

  function onEnd(d) {
    closeStream();
    const done = d.epochs_done == null ? "" : `${d.epochs_done}`;
    if (d.status === "finished") {
      setState("finished");
      bar.value = 1;
      const acc = d.test_accuracy == null ? "" : `: test accuracy ${pct(d.test_accuracy)}`;
      const epochs = done ? ` after ${done} epoch${done === "1" ? "" : "s"}` : "";
      statusEl.textContent = `Run ${d.run || run} finished${epochs}${acc}.`;
      progressEl.textContent = d.message || "Finished.";
      showResult(d.run || run);
    } else {
      setState("interrupted");
      const of = info.epochs ? ` of ${info.epochs}` : "";
      statusEl.textContent = `Run ${d.run || run} stopped after ${done || 0}${of} epochs; Resume continues from there.`;
      progressEl.textContent = d.message || "Stopped.";
    }
    queueDraw();
    document.dispatchEvent(
      new CustomEvent("threefigures:trained", { detail: { run: d.run || run, select: d.status === "finished" } }),
    );
  }

  function onFailed(d) {
    closeStream();
    setState("error");
    showError(`Run ${d.run || run} failed: ${d.message || "unknown error"}`);
    progressEl.textContent = "Training failed.";
    queueDraw();
    document.dispatchEvent(new CustomEvent("threefigures:trained", { detail: { run: d.run || run, select: false } }));
  }

  // --- figures and report of a finished run -------------------------------------------------

  async function showResult(id) {
    let detail = null;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        detail = await getJSON(`/api/runs/${encodeURIComponent(id)}`);
      } catch {
        detail = null;
      }
      if (id !== run) return; // another run started meanwhile
      if (detail && ["figure1", "figure2", "figure3"].some((n) => detail.figures && detail.figures[n])) break;
      await new Promise((ok) => setTimeout(ok, 1000));
    }
    const figs = $("train-figures");
    const links = $("train-links");
    figs.replaceChildren();
    links.replaceChildren();
    const figures = (detail && detail.figures) || {};
    for (const name of ["figure1", "figure2", "figure3"]) {
      const url = figures[name];
      if (!url) continue;
      const a = document.createElement("a");
      a.href = url;
      const img = document.createElement("img");
      img.src = url;
      img.alt = `Figure ${name.slice(-1)} of run ${id}`;
      a.append(img);
      figs.append(a);
    }
    const link = (href, text) => {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      links.append(a);
    };
    for (const name of ["figure1", "figure2", "figure3"]) {
      if (figures[name]) link(figures[name], `Figure ${name.slice(-1)}`);
    }
    if (detail && detail.report) link(detail.report, "Report");
    link(`/?run=${encodeURIComponent(id)}`, "Draw with this run");
    link("/runs", "All runs");
    resultEl.hidden = false;
    resultEl.dataset.run = id;
  }

  // --- the chart ------------------------------------------------------------------------------

  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => {
      drawQueued = false;
      drawChart();
    });
  }

  function drawChart() {
    const k = curves || emptyCurves();
    const drawn = Chart.draw(canvas, {
      xMax: Math.max(1, info.epochs || 0, Math.ceil(k.bx[k.bx.length - 1] || 0)),
      xLabel: "epoch",
      leftLabel: "loss (cross-entropy)",
      rightLabel: "validation accuracy",
      leftDefault: 2.5,
      empty: run ? "Waiting for the first batch…" : "Press Start: the losses draw here.",
      series: [
        { axis: "left", x: k.bx, y: k.by, colour: C.blue, width: 0.8, alpha: 0.45 },
        { axis: "left", x: k.ex, y: k.eLoss, colour: C.blue, width: 2.2, marker: "circle", size: 3.5 },
        { axis: "left", x: k.ex, y: k.vLoss, colour: C.orange, width: 1.6, dash: [6, 4], marker: "square", size: 3 },
        { axis: "right", x: k.ex, y: k.vAcc, colour: C.green, width: 1.6, marker: "triangle", size: 4 },
      ],
    });
    canvas.dataset.points = String(drawn.points[0]);
    canvas.dataset.epochs = String(drawn.points[1]);
    canvas.setAttribute("aria-label", describe(k));
  }

  function describe(k) {
    if (!run) return "Figure 2, live: nothing trained yet.";
    if (!k.by.length) return `Figure 2, live, run ${run}: no batch yet.`;
    const words = [`Figure 2, live, run ${run}: ${k.by.length} batch losses`];
    words.push(`from ${fmtLoss(k.by[0])} to ${fmtLoss(k.by[k.by.length - 1])}`);
    if (k.ex.length) {
      words.push(`${k.ex.length} of ${info.epochs || "?"} epochs done`);
      const acc = k.vAcc[k.vAcc.length - 1];
      if (acc != null) words.push(`validation accuracy ${pct(acc)}`);
    }
    return `${words.join(", ")}.`;
  }

  if (window.ResizeObserver) new ResizeObserver(queueDraw).observe(canvas);

  // --- start-up -----------------------------------------------------------------------------

  async function refreshOptions() {
    try {
      options = await getJSON("/api/train/options");
    } catch (err) {
      options = null;
      progressEl.textContent =
        err.status === 404 ? "This server cannot train from the page." : `Could not read the training options: ${err.message}`;
      setState(state);
      return;
    }
    if (!form.dataset.built) {
      buildForm(options);
      form.dataset.built = "true";
    }
    if (!options.enabled) {
      progressEl.textContent = `Training from the page is off: ${options.why_disabled || "the server does not allow it"}.`;
    } else if (!run) {
      progressEl.textContent = "No training yet.";
    }
    setState(state);
    if (options.active && options.active !== run) {
      attach(options.active); // a run already training (another tab, or before a reload)
    } else if (options.active && !source && ["interrupted", "finished", "error"].includes(state)) {
      attach(options.active);
    }
  }

  setState("idle");
  queueDraw();
  refreshOptions().finally(() => {
    document.body.dataset.trainReady = "true";
  });
})();
