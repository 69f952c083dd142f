// The drawing page: draw (or upload) a digit, send it to /api/predict, show what comes back.
// Protocol: the pad (white ink on black) is downscaled to 56×56 grey bytes (0–255) and
// POSTed as JSON {"gray": {"width", "height", "data": base64}, "run": id}; the server centres
// it the way MNIST was made. (JSON {"pixels": rows of values in [0, 1]} works too, but
// bytes are a quarter of the size and faster for the server to read.)
"use strict";

(() => {
  const SEND_SIDE = 56;
  const DEBOUNCE_MS = 150;
  const $ = (id) => document.getElementById(id);

  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const runSelect = $("run");
  const fileInput = $("file");
  const resultEl = $("result");
  const statusEl = $("status");
  const small = document.createElement("canvas");
  small.width = small.height = SEND_SIDE;
  const smallCtx = small.getContext("2d", { willReadFrequently: true });

  let timer = 0;
  let seq = 0;
  let controller = null;
  let drawing = false;
  let last = null;
  let hasInk = false;
  let photo = null; // the uploaded File while the pad shows it
  let maxUpload = 5 * 1024 * 1024;

  // --- drawing -------------------------------------------------------------------------

  function resetPad() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    photo = null;
  }

  function point(ev) {
    const r = pad.getBoundingClientRect();
    return {
      x: ((ev.clientX - r.left) * pad.width) / r.width,
      y: ((ev.clientY - r.top) * pad.height) / r.height,
    };
  }

  function dot(p) {
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(p.x, p.y, pad.width / 22, 0, 2 * Math.PI);
    ctx.fill();
  }

  function strokeTo(p) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = pad.width / 11;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  }

  pad.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    if (photo) resetPad();
    pad.setPointerCapture(ev.pointerId);
    drawing = true;
    last = point(ev);
    dot(last);
    hasInk = true;
    schedule();
  });

  pad.addEventListener("pointermove", (ev) => {
    if (!drawing) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) strokeTo(point(e));
    schedule();
  });

  const endStroke = () => {
    if (!drawing) return;
    drawing = false;
    schedule();
  };
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  // --- drawing with the keyboard ------------------------------------------------------------
  // The pad takes focus; arrow keys move a pen (a ring over the pad, never drawn into it),
  // Space lowers it (a dot) or lifts it, and a lowered pen draws as it moves.

  const penEl = $("pen");
  const PEN_STEP = pad.width / 20;
  const keyPen = { x: pad.width / 2, y: pad.height / 2, down: false };

  function showPen() {
    penEl.hidden = false;
    penEl.style.left = `${(100 * keyPen.x) / pad.width}%`;
    penEl.style.top = `${(100 * keyPen.y) / pad.height}%`;
    penEl.classList.toggle("down", keyPen.down);
  }

  const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  pad.addEventListener("keydown", (ev) => {
    const move = MOVES[ev.key];
    if (ev.key === " ") {
      ev.preventDefault();
      keyPen.down = !keyPen.down;
      if (keyPen.down) {
        if (photo) resetPad();
        last = { x: keyPen.x, y: keyPen.y };
        dot(last);
        hasInk = true;
      }
      showPen();
      schedule();
    } else if (move) {
      ev.preventDefault(); // the arrows move the pen, not the page
      const step = ev.shiftKey ? 3 * PEN_STEP : PEN_STEP;
      keyPen.x = Math.min(pad.width, Math.max(0, keyPen.x + move[0] * step));
      keyPen.y = Math.min(pad.height, Math.max(0, keyPen.y + move[1] * step));
      if (keyPen.down) {
        strokeTo({ x: keyPen.x, y: keyPen.y });
        schedule();
      }
      showPen();
    }
  });
  pad.addEventListener("focus", () => {
    if (pad.matches(":focus-visible")) showPen(); // from the keyboard, not a click
  });
  pad.addEventListener("blur", () => {
    keyPen.down = false;
    penEl.hidden = true;
  });

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(predictDrawing, DEBOUNCE_MS);
  }

  function grayDrawing() {
    smallCtx.imageSmoothingEnabled = true;
    smallCtx.imageSmoothingQuality = "high";
    smallCtx.clearRect(0, 0, SEND_SIDE, SEND_SIDE);
    smallCtx.drawImage(pad, 0, 0, SEND_SIDE, SEND_SIDE);
    const rgba = smallCtx.getImageData(0, 0, SEND_SIDE, SEND_SIDE).data;
    let bytes = "";
    for (let i = 0; i < SEND_SIDE * SEND_SIDE; i++) {
      bytes += String.fromCharCode(rgba[i * 4]); // the red channel: the ink is white
    }
    return { width: SEND_SIDE, height: SEND_SIDE, data: btoa(bytes) };
  }

  // --- asking the server -------------------------------------------------------------------

  function predictDrawing() {
    if (!hasInk || photo) return;
    const body = JSON.stringify({ gray: grayDrawing(), run: runSelect.value || null });
    ask({ headers: { "Content-Type": "application/json" }, body });
  }

  function predictPhoto() {
    if (!photo) return;
    const form = new FormData();
    form.append("file", photo, photo.name);
    if (runSelect.value) form.append("run", runSelect.value);
    ask({ body: form });
  }

  async function ask(init) {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = ++seq;
    resultEl.dataset.state = "busy";
    statusEl.textContent = "Asking the network…";
    try {
      const res = await fetch("/api/predict", { ...init, method: "POST", signal: controller.signal });
      const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
      if (mine !== seq) return;
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      render(body);
    } catch (err) {
      if (err.name === "AbortError" || mine !== seq) return;
      showError(err.message);
    }
  }

  function showError(message) {
    resultEl.dataset.state = "error";
    $("answer").textContent = `No answer: ${message}`;
    statusEl.textContent = "";
  }

  // --- showing the answer ------------------------------------------------------------------

  function heat(t) {
    // black → red → orange → pale yellow, for t in [0, 1]
    const u = Math.max(0, Math.min(1, t));
    return [255 * Math.min(1, u * 1.7), 255 * Math.max(0, Math.min(1, u * 1.7 - 0.55)), 255 * Math.max(0, u * 2 - 1.3)];
  }

  function paint(canvas, width, height, colour) {
    canvas.width = width;
    canvas.height = height;
    const c = canvas.getContext("2d");
    const img = c.createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = colour(i);
      img.data.set([r, g, b, 255], i * 4);
    }
    c.putImageData(img, 0, 0);
  }

  function drawInput(rows) {
    const flat = rows.flat();
    paint($("seen"), 28, 28, (i) => {
      const v = flat[i] * 255;
      return [v, v, v];
    });
  }

  function drawAttribution(r) {
    const base = r.input.flat();
    const map = r.attribution.map.flat();
    paint($("attr"), 28, 28, (i) => {
      const g = base[i] * 110;
      const v = map[i];
      if (v >= 0) return [g + (255 - g) * v, g * (1 - v), g * (1 - v)];
      return [g * (1 + v), g * (1 + v) + 90 * -v, g + (255 - g) * -v];
    });
    $("attr").setAttribute(
      "aria-label",
      `Attribution heatmap (${r.attribution.method}) for the answer ${r.class}, over the input.`,
    );
    $("attr-caption").textContent =
      r.attribution.method === "saliency"
        ? `Saliency for class ${r.class}: the redder a pixel, the more changing it would move that score.`
        : `Integrated gradients for class ${r.class}. Red: pixels that raised its score; blue: lowered it.`;
  }

  function unitGrid(values, cols) {
    const CELL = 10;
    const rows = Math.ceil(values.length / cols);
    const canvas = document.createElement("canvas");
    canvas.className = "grid-cells";
    canvas.width = cols * CELL;
    canvas.height = rows * CELL;
    const c = canvas.getContext("2d");
    c.fillStyle = "#111";
    c.fillRect(0, 0, canvas.width, canvas.height);
    const top = Math.max(1e-6, ...values.map(Math.abs));
    values.forEach((v, i) => {
      const [r, g, b] = v >= 0 ? heat(v / top) : [30, 60, 255 * Math.min(1, -v / top)];
      c.fillStyle = `rgb(${r | 0},${g | 0},${b | 0})`;
      c.fillRect((i % cols) * CELL + 1, Math.floor(i / cols) * CELL + 1, CELL - 2, CELL - 2);
    });
    return canvas;
  }

  function featureMaps(layer) {
    const [channels, h, w] = layer.shape;
    const wrap = document.createElement("div");
    wrap.className = "maps";
    for (let ch = 0; ch < channels; ch++) {
      const part = layer.values.slice(ch * h * w, (ch + 1) * h * w);
      const lo = Math.min(...part);
      const span = Math.max(1e-6, Math.max(...part) - lo);
      const canvas = document.createElement("canvas");
      paint(canvas, w, h, (i) => heat((part[i] - lo) / span));
      canvas.title = `${layer.name} map ${ch + 1}`;
      wrap.append(canvas);
    }
    return wrap;
  }

  function drawHidden(layers) {
    const box = $("hidden");
    box.replaceChildren();
    if (!layers.length) {
      box.textContent = "This network has no hidden layer: the input goes straight to the answer.";
      return;
    }
    const words = [];
    for (const layer of layers) {
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      const n = layer.values.length;
      if (layer.shape.length === 3) {
        fig.append(featureMaps(layer));
        cap.textContent = `${layer.name}: ${layer.shape[0]} feature maps of ${layer.shape[1]}×${layer.shape[2]}`;
      } else {
        const cols = layer.shape.length === 2 ? layer.shape[1] : Math.ceil(Math.sqrt(n));
        fig.append(unitGrid(layer.values, cols));
        const active = layer.values.filter((v) => v > 0).length;
        cap.textContent = `${layer.name}: ${n} units, ${active} active`;
      }
      words.push(cap.textContent);
      fig.append(cap);
      box.append(fig);
    }
    box.setAttribute("aria-label", `Hidden layer activations. ${words.join(". ")}.`);
  }

  function drawProbabilities(r) {
    const list = $("probs");
    list.replaceChildren();
    r.probabilities.forEach((p, i) => {
      const li = document.createElement("li");
      li.dataset.class = r.classes[i];
      li.dataset.probability = String(p);
      if (i === r.index) li.className = "winner";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = r.classes[i];
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
      list.append(li);
    });
  }

  function render(r) {
    const answer = $("answer");
    answer.replaceChildren();
    const digit = document.createElement("span");
    digit.className = "digit";
    digit.textContent = r.class;
    answer.append(digit, ` ${(100 * r.probability).toFixed(1)}% sure`);
    drawProbabilities(r);
    drawInput(r.input);
    drawHidden(r.activations);
    drawAttribution(r);
    const notes = r.notes.length ? ` · ${r.notes.join("; ")}` : "";
    $("seen").setAttribute(
      "aria-label",
      `The 28 by 28 image the network sees${r.inverted ? " (inverted from dark on light)" : ""}.`,
    );
    statusEl.textContent = `Run ${r.run} answered in ${r.compute_ms} ms${notes}`;
    Object.assign(resultEl.dataset, {
      state: "ready",
      run: r.run,
      class: r.class,
      index: String(r.index),
      source: r.source,
    });
  }

  function clearAll() {
    clearTimeout(timer);
    if (controller) controller.abort();
    seq++;
    resetPad();
    keyPen.down = false;
    if (!penEl.hidden) showPen();
    fileInput.value = "";
    for (const id of ["seen", "attr"]) $(id).getContext("2d").clearRect(0, 0, 28, 28);
    $("hidden").replaceChildren();
    $("probs").replaceChildren();
    $("answer").textContent = "Draw a digit.";
    resultEl.dataset.state = "empty";
    statusEl.textContent = "";
  }

  // --- upload and runs -----------------------------------------------------------------

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return;
    clearTimeout(timer);
    if (file.size > maxUpload) {
      showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MiB; the limit is ${(maxUpload / 1048576).toFixed(1)} MiB`);
      return;
    }
    resetPad();
    photo = file;
    if (window.createImageBitmap) {
      createImageBitmap(file)
        .then((bmp) => {
          if (photo !== file) return;
          const s = Math.min(pad.width / bmp.width, pad.height / bmp.height);
          const w = bmp.width * s;
          const h = bmp.height * s;
          ctx.drawImage(bmp, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
        })
        .catch(() => {}); // the server says what is wrong with the file
    }
    predictPhoto();
  });

  $("clear").addEventListener("click", clearAll);

  function useChosenRun() {
    const url = new URL(location.href);
    url.searchParams.set("run", runSelect.value);
    history.replaceState(null, "", url);
    if (photo) predictPhoto();
    else if (hasInk) predictDrawing();
  }

  runSelect.addEventListener("change", useChosenRun);

  async function getJSON(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  // The run the Train panel (train.js) is training: listed as "ID (training…)" and usable,
  // so a drawing can be sent to it mid-training (the server answers with its current weights).
  let training = null; // {run, label}
  let firstLoad = true;

  function markTraining() {
    if (!training) return;
    let opt = [...runSelect.options].find((o) => o.value === training.run);
    if (!opt) {
      opt = document.createElement("option");
      opt.value = training.run;
      runSelect.prepend(opt);
    }
    opt.textContent = training.label;
    opt.disabled = false;
    opt.dataset.training = "true";
  }

  document.addEventListener("threefigures:training", (ev) => {
    training = { run: ev.detail.run, label: ev.detail.label || `${ev.detail.run} (training…)` };
    markTraining();
    // A reload of /?run=ID mid-training: the list came before the Train panel named its run.
    const chosen = runSelect.selectedOptions[0];
    const wanted = new URLSearchParams(location.search).get("run") === training.run;
    if (runSelect.value !== training.run && (wanted || !chosen || chosen.disabled)) {
      // Asked for by ?run=ID (a reload mid-training: the list came before the Train panel
      // named its run), or no other run can answer: the training one will.
      runSelect.value = training.run;
      statusEl.textContent = "";
    }
  });

  document.addEventListener("threefigures:trained", async (ev) => {
    const { run, select } = ev.detail;
    if (training && training.run === run) training = null;
    await loadRuns(select ? run : null);
  });

  // `prefer`: a run to select if it can answer (a run that just finished training).
  async function loadRuns(prefer = null) {
    const kept = firstLoad ? "" : runSelect.value;
    try {
      const [runs, health] = await Promise.all([getJSON("/api/runs"), getJSON("/health")]);
      maxUpload = health.max_upload_bytes;
      const wanted = new URLSearchParams(location.search).get("run");
      runSelect.replaceChildren();
      let usable = [];
      for (const run of runs) {
        const opt = document.createElement("option");
        opt.value = run.id;
        const acc = run.test_accuracy == null ? "" : ` · ${(100 * run.test_accuracy).toFixed(1)}%`;
        let why = "";
        if (!run.image_model) why = run.text_model ? " (reads text: see Classify a text)" : " (not an image model)";
        else if (!run.files_present) why = " (files missing)";
        opt.textContent = `${run.id} · ${run.data_name} · ${run.model}${acc}${why}`;
        opt.disabled = why !== "";
        if (!opt.disabled) usable.push(run.id);
        runSelect.append(opt);
      }
      markTraining();
      if (prefer && usable.includes(prefer)) {
        runSelect.value = prefer;
      } else if (kept && [...runSelect.options].some((o) => o.value === kept && !o.disabled)) {
        runSelect.value = kept;
      } else if (!usable.length) {
        if (training) runSelect.value = training.run;
        else statusEl.textContent = "No run can answer yet: train one below or with `threefigures demo`.";
      } else if (wanted && (usable.includes(wanted) || (training && training.run === wanted))) {
        runSelect.value = wanted;
      } else {
        runSelect.value = usable.includes(health.default_run) ? health.default_run : usable[0];
        if (wanted && firstLoad) statusEl.textContent = `No usable run ${wanted}; using ${runSelect.value}.`;
      }
      if (!firstLoad && (runSelect.value !== kept || (prefer && runSelect.value === prefer))) {
        useChosenRun(); // ask the newly chosen network about what is on the pad
      }
    } catch (err) {
      statusEl.textContent = `Could not list the runs: ${err.message}`;
    }
    firstLoad = false;
    document.body.dataset.runsLoaded = "true";
  }

  resetPad();
  loadRuns();
})();
