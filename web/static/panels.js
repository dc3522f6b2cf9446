// poold console: the actions (buttons, confirmations, toasts) and the
// side panels: sockets, poold's own row, the summary and the event log.

import { $, el, fmtBytes, rssOf, fmtAge, fmtCPU, fmtTime, statusClass, noun } from "./util.js";
import { st, send } from "./conn.js";
import { laterCard } from "./cards.js";
import { color, spark } from "./charts.js";

// ---- actions ----
// confirmThen runs fn on a second click within the window. The armed
// state is said aloud (a screen reader does not read a focused button's
// new text), and a click from the keyboard (ev.detail 0) gets a longer
// window: the announcement takes time to hear.
export function confirmThen(btn, fn, ev) {
  if (btn.classList.contains("confirm")) {
    btn.classList.remove("confirm"); clearTimeout(btn._t); btn.textContent = btn._label; fn(); return;
  }
  const secs = ev && ev.detail === 0 ? 10 : 3;
  btn._label = btn.textContent; btn.textContent = "sure?"; btn.classList.add("confirm");
  $("#announce").textContent = "Press again within " + secs + " seconds to confirm: " + (btn.title || btn._label);
  btn._t = setTimeout(() => {
    btn.classList.remove("confirm"); btn.textContent = btn._label; $("#announce").textContent = "";
  }, secs * 1000);
}
export function runAction(btn, w, cmd, extra, ev) {
  const props = { name: w.view.name };
  if (cmd === "incr" || cmd === "decr") props.nb = 1;
  if (cmd === "reload") props.graceful = true;
  const go = () => doAction(btn, w, cmd, props, cmd);
  if (extra.confirm) confirmThen(btn, go, ev); else go();
}
export async function doAction(btn, w, cmd, props, label) {
  if (btn) { btn.disabled = true; btn.classList.add("busy"); }
  const before = w ? w.view.options.numprocesses : null;
  const rep = await send(cmd, props);
  if (btn) { btn.disabled = false; btn.classList.remove("busy"); }
  const ok = rep.status !== "error"; // status replies carry the watcher's status there
  const what = (w ? w.view.name + ": " : "") + label;
  let text = ok ? "ok" : (rep.reason || "failed");
  // An incr at the pool's max, or a decr at its min or 0, is ok and
  // changes nothing: say so rather than "ok".
  const same = ok ? unchanged(w, cmd, rep, before) : "";
  if (same) text = same;
  // A reload that applied may still leave settings for a restart.
  const later = ok && cmd === "reloadconfig" && Array.isArray(rep.restart_needed) ? rep.restart_needed : [];
  if (later.length) text = "applied, but " + restartWords(later);
  // The config's warnings (an option without an equivalent, an override
  // naming nothing) come with an applied reload too.
  const warned = ok && cmd === "reloadconfig" && Array.isArray(rep.warnings) ? rep.warnings : [];
  if (warned.length) text = (later.length ? text + "; " : "applied, with ") +
    (warned.length > 1 ? warned.length + " warnings: " : "a warning: ") + warned.join("; ");
  if (w) {
    const o = w.refs.outcome;
    o.className = "outcome " + (ok ? (same ? "same" : "ok") : "err");
    o.textContent = (ok ? (same ? "= " : "✓ ") : "✗ ") + label + (ok && !same ? "" : ": " + text);
    clearTimeout(o._t);
    o._t = setTimeout(() => { o.textContent = ""; }, ok ? 4000 : 15000);
    if (ok && rep.numprocesses != null) { w.view.options.numprocesses = rep.numprocesses; laterCard(w); }
  }
  toast(what, ok, text, later.length > 0 || warned.length > 0 || !!same);
}
// unchanged says why an ok incr or decr left the pool's size as it was
// (before, the target the page knew), from the reply's numprocesses (and
// decr's previous, the size a decr past 0 found); "" when it changed.
function unchanged(w, cmd, rep, before) {
  if (!w || (cmd !== "incr" && cmd !== "decr") || rep.numprocesses == null) return "";
  const n = Number(rep.numprocesses);
  if (rep.singleton) return "no change: a singleton keeps its " + n + " worker" + (n === 1 ? "" : "s");
  const was = rep.previous != null ? Number(rep.previous) : Number(before);
  if (!Number.isFinite(was) || was !== n) return "";
  const b = w.view.bounds || {}, o = w.view.options;
  if (cmd === "incr") {
    const hi = b.max != null ? b.max : o.max_workers;
    return "no change: already at its max of " + n + (hi === n && o.max_workers > 0 ? " (max_workers)" : "");
  }
  if (n === 0) return "no change: already at 0 workers";
  return "no change: already at its min of " + n + (o.min_workers === n ? " (min_workers)" : "");
}
// restartWords says what applies each setting a reload left at its old
// value: an upgrade in place binds [web]'s listeners where the file
// says, and keeps the rest, which wait for a restart.
function restartWords(later) {
  const web = later.filter((s) => s.startsWith("web.")), rest = later.filter((s) => !s.startsWith("web."));
  const keep = (l) => l.join(", ") + (l.length > 1 ? " keep their" : " keeps its") + " old value";
  const parts = [];
  if (rest.length) parts.push(keep(rest) + " until poold restarts (an upgrade in place keeps " + (rest.length > 1 ? "them" : "it") + " too)");
  if (web.length) parts.push(keep(web) + " until poold restarts or is upgraded in place (poolctl upgrade)");
  return parts.join("; ");
}
export function toast(what, ok, text, warn) {
  const t = el("div", { class: "toast" + (ok ? "" : " err") + (warn ? " warn" : ""), role: "status", "data-ok": ok ? "1" : "0" },
    el("b", { text: what }), " — " + text);
  $("#toasts").prepend(t);
  while ($("#toasts").children.length > 5) $("#toasts").lastChild.remove();
  setTimeout(() => t.remove(), ok && !warn ? 4000 : 12000);
}

// ---- side panels ----
export function renderSockets() {
  const users = {};
  for (const w of st.watchers.values()) for (const s of (w.view.options.sockets || [])) (users[s] = users[s] || []).push(w.view.name);
  const rows = st.sockets.map((s) => el("tr", null,
    el("td", { class: "num", text: s.fd != null ? s.fd : "–" }),
    el("td", { text: s.name || "" }),
    el("td", { class: "num", text: s.path ? s.path : (String(s.host || "").includes(":") ? "[" + s.host + "]" : s.host) + ":" + s.port }),
    el("td", { class: "num r", text: s.backlog != null ? s.backlog : "" }),
    el("td", { class: "num r qcell", title: "connections waiting in the accept queue, of the most it holds; the line is its last 5 minutes" },
      el("span", { text: fmtQueue(st.queued[s.fd]) }), el("canvas", { "data-fd": s.fd, "data-w": 64, "data-h": 14 })),
    el("td", { text: (users[s.name] || []).join(", ") || "–" })));
  if (!rows.length) rows.push(el("tr", null, el("td", { colspan: 6, class: "empty", text: "no sockets" })));
  $("#sockets").replaceChildren(...rows);
  for (const c of $("#sockets").querySelectorAll("canvas[data-fd]")) {
    const q = st.queued[c.dataset.fd];
    spark(c, st.qhist[c.dataset.fd] || [], 1, color("--queue"), (m) => Math.max(m * 1.15, (q && q.limit) ? Math.min(q.limit, 8) : 8));
  }
}
function fmtQueue(q) {
  if (!q) return "–";
  return q.limit ? q.queue + " / " + q.limit : String(q.queue);
}
export function renderSelf() {
  const p = st.poold;
  if (!p) return;
  $("#self").replaceChildren("poold ", el("b", { text: p.pid }), "  cpu ", el("b", { text: fmtCPU(Number(p.cpu)) }),
    "  rss ", el("b", { text: p.mem_info1 || fmtBytes(rssOf(p)) }), "  up ", el("b", { text: fmtAge(p.age) }));
}
export function renderSummary() {
  // Until the console has read poold's watchers (a big poold starting
  // takes seconds), it has no counts: "0 watchers" beside "live" said
  // poold ran nothing while poolctl listed hundreds of processes.
  if (!st.loaded && st.watchers.size === 0) { $("#summary").replaceChildren("reading poold's watchers…"); return; }
  let procs = 0, active = 0;
  for (const w of st.watchers.values()) { procs += Object.keys(w.view.procs).length; if (statusClass(w.view.status) === "s-ok") active++; }
  $("#summary").replaceChildren(el("b", { text: st.watchers.size }), " " + noun(st.watchers.size, "watcher") + " · ", el("b", { text: active }), " active · ",
    el("b", { text: procs }), " " + noun(procs, "process", "processes"));
}
export function renderFilter() {
  const sel = $("#evfilter"), cur = sel.value;
  const names = [...st.watchers.keys()].sort();
  const have = [...sel.options].slice(1).map((o) => o.value);
  if (have.join("\0") === names.join("\0")) return;
  sel.replaceChildren(el("option", { value: "", text: "all watchers" }), ...names.map((n) => el("option", { value: n, text: n })));
  sel.value = names.includes(cur) ? cur : "";
}
function eventDetail(e) {
  const f = e.fields || {}, parts = [];
  if (e.watcher) parts.push(el("b", { text: e.watcher }));
  else parts.push(el("b", { text: "poold" }));
  const bits = [];
  if (f.process_pid != null) bits.push("pid " + f.process_pid);
  if (f.process_id != null) bits.push("wid " + f.process_id);
  if (f.exit_code != null) bits.push("exit " + f.exit_code);
  for (const [k, v] of Object.entries(f)) {
    if (["process_pid", "process_id", "exit_code", "time", "seq"].includes(k)) continue;
    const val = k === "began" && typeof v === "number" ? fmtTime(v) // a reload's start, Unix seconds
      : typeof v === "number" && !Number.isInteger(v) ? +v.toPrecision(3)
      : typeof v === "object" ? JSON.stringify(v) : v;
    bits.push(k.replace(/_/g, " ") + " " + val);
  }
  if (bits.length) parts.push(" ", el("span", { class: "mono", text: bits.join(" · ") }));
  return parts;
}
export function renderEvents() {
  const filter = $("#evfilter").value;
  const items = [];
  for (const e of st.events) {
    if (filter && e.watcher !== filter) continue;
    const f = e.fields || {};
    items.push(el("li", { "data-kind": e.kind, "data-watcher": e.watcher || "", "data-pid": f.process_pid != null ? f.process_pid : null, title: e.topic + " #" + e.seq },
      el("time", { text: fmtTime(e.time) }), el("span", { class: "k k-" + e.kind, text: e.kind }),
      el("span", { class: "d", title: e.topic + " " + JSON.stringify(f) }, ...eventDetail(e))));
    if (items.length >= 200) break;
  }
  if (!items.length) items.push(el("li", { class: "empty" }, el("span"), el("span"), el("span", { class: "d", text: "no events yet" })));
  $("#events").replaceChildren(...items);
}
