// poold console: the CPU, memory and accept-queue charts, drawn on
// canvases.

import { WINDOW, setText, fmtBytes, fmtCPU } from "./util.js";
import { st } from "./conn.js";
import { later, laterChart } from "./cards.js";

// ---- charts ----
export function drawCharts(w) {
  w.chartsStale = w.offscreen;
  if (w.offscreen) return;
  const h = w.hist, r = w.refs;
  const last = h.length ? h[h.length - 1] : null;
  setText(r.cpuVal, last ? fmtCPU(last[1]) : "–");
  setText(r.memVal, last ? fmtBytes(last[2]) : "–");
  spark(r.cpuCanvas, h, 1, color("--cpu"), (m) => Math.max(m * 1.15, 5));
  spark(r.memCanvas, h, 2, color("--mem"), (m) => Math.max(m * 1.15, 1 << 20));
}
// The charts' colours, read from the style sheet once (again when the
// colour scheme changes): reading them per chart forced a style pass.
let colors = null;
export function color(name) {
  if (!colors) {
    const cs = getComputedStyle(document.documentElement);
    colors = Object.fromEntries(["--cpu", "--mem", "--queue"].map((n) => [n, cs.getPropertyValue(n).trim()]));
  }
  return colors[name];
}
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  colors = null;
  for (const w of st.watchers.values()) laterChart(w);
  later("sockets");
});
// spark draws a chart on a canvas of the CSS size in its data-w and
// data-h (the style sheet's), never asking the layout for it: a chart
// drawn right after the page changed would force a layout each time.
export function spark(canvas, h, k, color, top) {
  const dpr = window.devicePixelRatio || 1;
  const W = Number(canvas.dataset.w) || 150, H = Number(canvas.dataset.h) || 34;
  if (canvas.width !== W * dpr) { canvas.width = W * dpr; canvas.height = H * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  if (!h.length) return;
  const t1 = h[h.length - 1][0], t0 = t1 - WINDOW;
  let max = 0;
  for (const p of h) if (p[0] >= t0 && p[k] > max) max = p[k];
  const ymax = top(max);
  const x = (t) => (t - t0) / WINDOW * W, y = (v) => H - 1 - (v / ymax) * (H - 3);
  g.beginPath();
  let started = false, firstX = 0;
  for (const p of h) {
    if (p[0] < t0) continue;
    if (!started) { g.moveTo(x(p[0]), y(p[k])); firstX = x(p[0]); started = true; } else g.lineTo(x(p[0]), y(p[k]));
  }
  g.strokeStyle = color; g.lineWidth = 1.5; g.lineJoin = "round"; g.stroke();
  g.lineTo(W, H); g.lineTo(firstX, H); g.closePath();
  g.globalAlpha = 0.15; g.fillStyle = color; g.fill(); g.globalAlpha = 1;
}
