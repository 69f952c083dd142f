// A small canvas chart for Figure 2 (training curves): losses on the left axis, accuracy on
// the right axis (0–100 %), epochs along the bottom. Used by the Train panel (live) and by the
// runs page (Compare). No library: window.ThreeFiguresChart.draw(canvas, spec).
//
// spec = {
//   xMax: number of epochs the x axis spans (at least 1),
//   series: [{ axis: "left" | "right", x: [...], y: [...], colour, width = 1, alpha = 1,
//              dash = null (e.g. [5, 4]), marker = null | "circle" | "square" | "triangle",
//              size = 3.5 }],   // right-axis y values are fractions 0..1; null/NaN = a gap
//   xLabel, leftLabel, rightLabel, rightColour, empty: text when no series has a point,
// }
// Returns { points: the number of finite points drawn, per series }.
"use strict";

(() => {
  const COLOURS = {
    ink: "#1f2933",
    muted: "#7b8794",
    faint: "#e4e7eb",
    blue: "#2f6fb3",
    orange: "#e07b2a",
    green: "#2e8b57",
    red: "#c62828",
  };
  // One colour per compared run (colour-blind friendly, distinct in grey too).
  const PALETTE = ["#2f6fb3", "#e07b2a", "#2e8b57", "#8e44ad"];
  const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  const MARGIN = { left: 54, right: 50, top: 14, bottom: 38 };

  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const mag = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  function ticks(max, target) {
    const step = niceStep(max, target);
    const out = [];
    for (let v = 0; v <= max + step * 1e-6; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  function label(v) {
    return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : String(+v.toPrecision(3));
  }

  function finite(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  function marker(c, kind, x, y, size) {
    c.beginPath();
    if (kind === "square") {
      c.rect(x - size, y - size, 2 * size, 2 * size);
    } else if (kind === "triangle") {
      c.moveTo(x, y - size * 1.25);
      c.lineTo(x + size * 1.1, y + size * 0.75);
      c.lineTo(x - size * 1.1, y + size * 0.75);
      c.closePath();
    } else {
      c.arc(x, y, size, 0, 2 * Math.PI);
    }
    c.fill();
  }

  // The line of one series in pixels; with many more points than pixel columns, each column
  // keeps its first, lowest, highest and last point, so spikes survive and drawing stays fast.
  function path(xs, ys, px, py, columns) {
    const out = [];
    const thin = xs.length > 3 * columns;
    let col = null;
    let bucket = null;
    const flush = () => {
      if (!bucket) return;
      const pts = [bucket.first, bucket.lo, bucket.hi, bucket.last].sort((a, b) => a.i - b.i);
      let prev = null;
      for (const p of pts) if (p !== prev) out.push(p), (prev = p);
      bucket = null;
    };
    for (let i = 0; i < xs.length; i++) {
      if (!finite(xs[i]) || !finite(ys[i])) {
        flush();
        out.push(null); // a gap
        col = null;
        continue;
      }
      const p = { x: px(xs[i]), y: py(ys[i]), i };
      if (!thin) {
        out.push(p);
        continue;
      }
      const c = Math.round(p.x);
      if (c !== col) {
        flush();
        col = c;
        bucket = { first: p, lo: p, hi: p, last: p };
      } else {
        if (p.y < bucket.lo.y) bucket.lo = p;
        if (p.y > bucket.hi.y) bucket.hi = p;
        bucket.last = p;
      }
    }
    flush();
    return out;
  }

  function size(canvas) {
    const rect = canvas.getBoundingClientRect();
    const w = Math.max(200, Math.round(rect.width || canvas.width));
    const h = Math.max(140, Math.round(rect.height || canvas.height));
    const dpr = Math.min(3, window.devicePixelRatio || 1);
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    return { w, h, dpr };
  }

  function draw(canvas, spec) {
    const { w, h, dpr } = size(canvas);
    const c = canvas.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, h);
    c.fillStyle = "#fff";
    c.fillRect(0, 0, w, h);
    c.font = FONT;

    const series = spec.series || [];
    const hasRight = series.some((s) => s.axis === "right");
    const left = MARGIN.left;
    const right = w - (hasRight ? MARGIN.right : 16);
    const top = MARGIN.top;
    const bottom = h - MARGIN.bottom;
    const xMax = Math.max(1, spec.xMax || 1);

    let yTop = 0;
    for (const s of series) {
      if (s.axis === "right") continue;
      for (const v of s.y) if (finite(v) && v > yTop) yTop = v;
    }
    yTop = yTop > 0 ? yTop * 1.06 : spec.leftDefault || 1;
    const leftTicks = ticks(yTop, 5);
    yTop = Math.max(yTop, leftTicks[leftTicks.length - 1]);

    const px = (x) => left + ((right - left) * x) / xMax;
    const py = (y) => bottom - ((bottom - top) * y) / yTop;
    const pr = (y) => bottom - (bottom - top) * y; // right axis: fractions 0..1

    // Grid and left axis.
    c.strokeStyle = COLOURS.faint;
    c.lineWidth = 1;
    c.fillStyle = COLOURS.muted;
    c.textAlign = "right";
    c.textBaseline = "middle";
    for (const t of leftTicks) {
      const y = Math.round(py(t)) + 0.5;
      c.beginPath();
      c.moveTo(left, y);
      c.lineTo(right, y);
      c.stroke();
      c.fillText(label(t), left - 6, y);
    }

    // X axis: whole epochs from three epochs on; quarters and halves below that.
    const xTicks = xMax >= 3 ? ticks(xMax, 8).filter((t) => Number.isInteger(t) || t === 0) : ticks(xMax, 6);
    c.textAlign = "center";
    c.textBaseline = "top";
    for (const t of xTicks) {
      if (t > xMax + 1e-9) continue;
      const x = Math.round(px(t)) + 0.5;
      c.strokeStyle = COLOURS.muted;
      c.beginPath();
      c.moveTo(x, bottom);
      c.lineTo(x, bottom + 4);
      c.stroke();
      c.fillText(label(t), x, bottom + 6);
    }
    c.strokeStyle = COLOURS.muted;
    c.strokeRect(left + 0.5, top + 0.5, right - left - 1, bottom - top);

    // Right axis: 0–100 %.
    if (hasRight) {
      c.fillStyle = spec.rightColour || COLOURS.green;
      c.textAlign = "left";
      c.textBaseline = "middle";
      for (let p = 0; p <= 100; p += 20) c.fillText(`${p}%`, right + 6, pr(p / 100));
    }

    // Axis titles.
    c.fillStyle = COLOURS.ink;
    c.textAlign = "center";
    c.textBaseline = "bottom";
    c.fillText(spec.xLabel || "epoch", (left + right) / 2, h - 2);
    c.save();
    c.translate(13, (top + bottom) / 2);
    c.rotate(-Math.PI / 2);
    c.textBaseline = "middle";
    c.fillText(spec.leftLabel || "loss", 0, 0);
    c.restore();
    if (hasRight) {
      c.save();
      c.translate(w - 10, (top + bottom) / 2);
      c.rotate(Math.PI / 2);
      c.textBaseline = "middle";
      c.fillStyle = spec.rightColour || COLOURS.green;
      c.fillText(spec.rightLabel || "accuracy", 0, 0);
      c.restore();
    }

    // The series, clipped to the plot.
    c.save();
    c.beginPath();
    c.rect(left, top - 8, right - left, bottom - top + 8);
    c.clip();
    const counts = [];
    for (const s of series) {
      const yPix = s.axis === "right" ? pr : py;
      const pts = path(s.x, s.y, px, yPix, right - left);
      let n = 0;
      for (let i = 0; i < s.x.length; i++) if (finite(s.x[i]) && finite(s.y[i])) n++;
      counts.push(n);
      c.globalAlpha = s.alpha == null ? 1 : s.alpha;
      c.strokeStyle = c.fillStyle = s.colour || COLOURS.blue;
      c.lineWidth = s.width == null ? 1 : s.width;
      c.lineJoin = "round";
      c.setLineDash(s.dash || []);
      if (c.lineWidth > 0) {
        c.beginPath();
        let pen = false;
        for (const p of pts) {
          if (!p) {
            pen = false;
            continue;
          }
          if (pen) c.lineTo(p.x, p.y);
          else c.moveTo(p.x, p.y);
          pen = true;
        }
        c.stroke();
      }
      c.setLineDash([]);
      if (s.marker) for (const p of pts) if (p) marker(c, s.marker, p.x, p.y, s.size || 3.5);
      c.globalAlpha = 1;
    }
    c.restore();

    if (!counts.some((n) => n > 0) && spec.empty) {
      c.fillStyle = COLOURS.muted;
      c.textAlign = "center";
      c.textBaseline = "middle";
      c.fillText(spec.empty, (left + right) / 2, (top + bottom) / 2);
    }
    return { points: counts };
  }

  window.ThreeFiguresChart = { draw, COLOURS, PALETTE };
})();
