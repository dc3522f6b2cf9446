// poold console: drawing once a frame, and each watcher's card with its
// process table.

import { SIGNALS, $, el, setText, setClass, fmtBytes, rssOf, treeOf, fmtAge, fmtCPU, fmtDur, fmtOpt, probeKey, NORMAL_SLOTS, statusClass, noun } from "./util.js";
import { st, serverNow, logsToReopen, send } from "./conn.js";
import { drawCharts } from "./charts.js";
import { confirmThen, runAction, doAction, renderSockets, renderSelf, renderSummary, renderFilter, renderEvents } from "./panels.js";

// ---- drawing, once a frame ----
// A message updates the model at once; the page is drawn from it at most
// once per animation frame, however many messages came in between. A
// big poold under churn sends dozens a second, and drawing the page
// after each one made it fall minutes behind while it said "live". A
// hidden tab draws nothing until it is shown again.
const todo = { cards: new Map(), charts: new Set(), sort: false, sockets: false, self: false, summary: false, filter: false, events: false, view: false };
let frame = 0;
const ask = () => { if (!frame) frame = requestAnimationFrame(draw); };
export function later(what) { todo[what] = true; ask(); }
export function laterCard(w, freshPid) { todo.cards.set(w, freshPid || todo.cards.get(w)); ask(); }
export function laterChart(w) { todo.charts.add(w); ask(); }
function draw() {
  frame = 0;
  const { cards, charts } = todo;
  todo.cards = new Map(); todo.charts = new Set();
  const live = (w) => st.watchers.get(w.view.name) === w; // not replaced by a hello since
  const once = (what, fn) => { if (todo[what]) { todo[what] = false; fn(); } };
  once("sort", sortCards);
  for (const [w, fresh] of cards) if (live(w)) drawCard(w, fresh);
  once("sockets", renderSockets); once("self", renderSelf); once("summary", renderSummary);
  once("filter", renderFilter); once("events", renderEvents);
  for (const w of charts) if (live(w)) drawCharts(w);
  if (histAsk.size) { send("console_history", { names: [...histAsk] }); histAsk.clear(); }
  if (todo.view) { todo.view = false; tellView(); }
}

// tellView tells poold which watchers' cards the page shows, when that
// changed: it sends the workers' samples and chart points of those only.
// A card counts as shown until the browser says it is skipped
// (content-visibility), so a browser that never says gets every sample,
// as before. A hidden tab shows none. For a card shown again, poold sends
// the chart points missed meanwhile: since, the time of the last one.
let viewSent = null, viewShown = null;
function tellView() {
  const names = document.hidden ? [] :
    [...st.watchers.values()].filter((w) => !w.offscreen).map((w) => w.view.name).sort();
  const key = names.join("\0");
  if (key === viewSent) return;
  const since = {};
  for (const n of names) {
    const h = viewShown && !viewShown.has(n) ? st.watchers.get(n).hist : null;
    if (h && h.length) since[n] = h[h.length - 1][0];
  }
  viewSent = key; viewShown = new Set(names);
  send("console_view", { names, since });
}
export function resetView() {
  viewSent = null; viewShown = null;
  if (document.hidden) tellView(); else later("view");
}
// A hidden tab draws nothing (no animation frames): it says so at once.
document.addEventListener("visibilitychange", () => { if (document.hidden) tellView(); else later("view"); });

// ---- watchers ----
// A hello brings no CPU/RSS history: each card asks for its own the
// first time it comes into view (asked once a frame, for all at once).
const histAsk = new Set();
export const inView = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const w = st.watchers.get(e.target.dataset.watcher);
    if (!e.isIntersecting || !w || w.card !== e.target || !w.histWanted) continue;
    w.histWanted = false;
    histAsk.add(w.view.name);
    ask();
  }
});
export function upsertWatcher(v) {
  v.procs = v.procs || {}; v.options = v.options || {};
  let w = st.watchers.get(v.name);
  if (!w) {
    w = { view: v, hist: [], histWanted: true };
    buildCard(w);
    inView.observe(w.card);
    st.watchers.set(v.name, w);
    later("view");
    $("#watchers").append(w.card);
  }
  w.view = v;
  laterCard(w);
}
export function removeWatcher(name) {
  const w = st.watchers.get(name);
  if (!w) return;
  if (w.logs) w.logs.close();
  inView.unobserve(w.card);
  w.card.remove();
  st.watchers.delete(name);
  later("view");
  later("filter");
}
// sortCards puts the cards in name order, moving none when they are.
function sortCards() {
  const box = $("#watchers"), names = [...st.watchers.keys()].sort();
  const now = [...box.querySelectorAll(":scope > article.watcher")].map((c) => c.dataset.watcher);
  if (now.join("\0") === names.join("\0")) return;
  names.forEach((n) => box.append(st.watchers.get(n).card));
}

function buildCard(w) {
  const name = w.view.name;
  const act = (cmd, label, title, extra = {}) => el("button", {
    class: "btn" + (extra.danger ? " danger" : ""), "data-act": cmd, title,
    onclick: (ev) => runAction(ev.currentTarget, w, cmd, extra, ev),
  }, label);
  w.refs = {
    status: el("span", { class: "badge" }),
    count: el("span", { class: "count" }),
    target: el("span", { class: "target num", title: "target number of processes" }),
    cpuCanvas: el("canvas", { width: 150, height: 34, "data-w": 150, "data-h": 34 }),
    memCanvas: el("canvas", { width: 150, height: 34, "data-w": 150, "data-h": 34 }),
    cpuVal: el("b"), memVal: el("b"),
    reason: el("div", { class: "wreason", hidden: true }),
    meta: el("div", { class: "wmeta" }),
    outcome: el("span", { class: "outcome" }),
    tbody: el("tbody"),
  };
  const r = w.refs;
  // Named, so a screen reader says whose Start or Stop a button is.
  w.card = el("article", { class: "watcher", "data-watcher": name, "aria-label": "watcher " + name },
    el("div", { class: "whead" },
      el("div", { class: "wtitle" }, el("h3", { text: name }), r.status, r.count),
      el("div", { class: "charts" },
        el("div", { class: "chart", title: "CPU % of all processes, last 5 minutes" }, r.cpuCanvas, el("span", null, "CPU", r.cpuVal)),
        el("div", { class: "chart", title: "resident memory of all processes, last 5 minutes" }, r.memCanvas, el("span", null, "RSS", r.memVal))),
      el("div", { class: "wactions act-only" },
        el("div", { class: "group" },
          act("decr", "−", "one process fewer", { sq: true }), r.target, act("incr", "+", "one process more")),
        el("span", { class: "sep" }),
        act("start", "Start", "start the watcher"),
        act("stop", "Stop", "stop every process (click twice)", { danger: true, confirm: true }),
        act("restart", "Restart", "stop then start every process (click twice)", { confirm: true }),
        act("reload", "Reload", "graceful rolling reload: new processes first, then the old ones go"))),
    r.reason,
    r.meta,
    // Its own horizontal scroll on a narrow screen: the card clips.
    el("div", { class: "pscroll" }, el("table", { class: "grid procs" },
      el("thead", null, el("tr", null,
        el("th", { text: "wid" }), el("th", { text: "pid" }), el("th", { text: "state" }),
        el("th", { class: "r", text: "CPU" }), el("th", { class: "r", text: "RSS" }),
        el("th", { class: "r", text: "age" }), el("th", { class: "r", text: "restarts" }),
        el("th", { class: "act-only" }))),
      r.tbody)));
  for (const b of w.card.querySelectorAll('[data-act="decr"],[data-act="incr"]')) b.classList.add("sq");
  // An off-screen card is not laid out (content-visibility: auto in
  // app.css), and its process table and charts are not drawn until it
  // comes into view.
  w.card.addEventListener("contentvisibilityautostatechange", (e) => {
    w.offscreen = e.skipped;
    later("view");
    if (!e.skipped && w.procsStale) laterCard(w);
    if (!e.skipped && w.chartsStale) laterChart(w);
  });
  // The log pane (logs.js): a read, so also on a read-only console.
  if (window.pooldLogs) w.logs = window.pooldLogs.attach(w.card, name, () => procList(w).map((p) => p.wid).filter((x) => x), send);
  if (w.logs && logsToReopen.delete(name)) w.logs.open();
}

function procList(w) {
  return Object.values(w.view.procs).sort((a, b) => (Number(a.wid) || 0) - (Number(b.wid) || 0) || a.pid - b.pid);
}

// renderWatcher draws a card's header. Each stats round comes here for
// every card, so a part whose inputs did not change is left alone: with
// 200 watchers, rebuilding every header each second took the page's
// main thread about 170 ms a round.
function renderWatcher(w) {
  const v = w.view, o = v.options, r = w.refs;
  setClass(r.status, "badge " + statusClass(v.status));
  setText(r.status, v.status || "unknown");
  // What is wrong, when poold says (flapping, failed, a slot in backoff);
  // nothing when it only tells of one-shots that did their work
  // (reason_fine): their slot rows say how they ended.
  const warn = !!v.reason && !v.reason_fine;
  if (r.reason.hidden !== !warn) r.reason.hidden = !warn;
  setClass(r.reason, "wreason " + (/^(flapping|failed)$/.test(v.status) ? "s-bad" : "s-warn"));
  renderReason(r.reason, v.reason || "", v.slots || []);
  const live = Object.keys(v.procs).length;
  const target = o.numprocesses != null ? o.numprocesses : "?";
  if (r.count._key !== live + "/" + target) {
    r.count._key = live + "/" + target;
    r.count.replaceChildren(el("b", { class: "num", text: live }), " / " + target + " processes");
  }
  setText(r.target, target);
  const states = {};
  for (const p of Object.values(v.procs)) { const s = p.state || "running"; states[s] = (states[s] || 0) + 1; }
  const key = JSON.stringify([o, v.lastScale, states, v.bounds, v.restarts]);
  if (r.meta._key === key) return;
  r.meta._key = key;

  const meta = [];
  const cmd = [o.cmd, ...(Array.isArray(o.args) ? o.args : (o.args ? [o.args] : []))].filter((x) => x != null && x !== "").join(" ");
  if (cmd) meta.push(el("code", { title: cmd, text: cmd }));
  for (const s of (Array.isArray(o.sockets) ? o.sockets : [])) meta.push(el("span", { class: "chip", title: "inherited socket", text: "⇄ " + s }));
  const kv = (k, val) => el("span", { class: "kv" }, k + " ", el("b", { text: val }));
  // Readiness and health checks: the keys of the checks the watcher has.
  for (const [k, val] of Object.entries(o)) {
    if (/^(ready|readiness|health)/.test(k) && probeKey(o, k) && val !== "" && val != null && val !== false) meta.push(kv(k.replace(/_/g, " "), fmtOpt(k, val)));
  }
  // An elastic pool: its bounds and its last scale decision.
  // The bounds come from poold's status (its size's min and max): an
  // on_demand pool's options say its current target, 0 while cold.
  if (o.on_demand || o.max_workers > 0) {
    const b = v.bounds || {};
    const lo = b.min != null ? b.min : (o.min_workers || 0);
    const hi = b.max != null ? b.max : o.max_workers > 0 ? o.max_workers : Math.max(o.numprocesses || 0, 1);
    meta.push(el("span", { class: "kv elastic", title: v.lastScale || "no scale decision yet" },
      "elastic ", el("b", { text: lo + "–" + hi }), o.on_demand ? " on demand" : ""));
  }
  if (o.respawn === false) meta.push(kv("respawn", "off"));
  if (o.backoff_min != null || o.backoff_max != null) meta.push(kv("backoff", fmtDur(o.backoff_min) + "–" + fmtDur(o.backoff_max)));
  if (o.graceful_timeout != null) meta.push(kv("graceful", fmtDur(o.graceful_timeout)));
  const sk = Object.keys(states);
  if (sk.length && !(sk.length === 1 && statusClass(sk[0]) === "s-ok")) {
    meta.push(el("span", { class: "kv" }, ...sk.map((s) => el("span", { class: "st " + statusClass(s), text: states[s] + " " + s + " " }))));
  }
  const rs = restartsChip(v.restarts);
  if (rs) meta.push(rs);
  meta.push(r.outcome);
  r.meta.replaceChildren(...meta);
}

// restartWords words the reasons of status NAME's restarts, as poolctl
// status NAME does, the signs of a fault in the app first.
const restartWords = [
  ["limit", "over max_rss or max_cpu", "over max_rss or max_cpu"],
  ["oom", "OOM kill", "OOM kills"],
  ["unhealthy", "failed readiness or health check", "failed readiness or health checks"],
  ["exit", "crash, kill or exit", "crashes, kills or exits"],
  ["spawn_error", "failed start", "failed starts"],
  ["max_age", "max_age recycle", "max_age recycles"],
];

// restartsChip shows the watcher's restarts since it was added, by
// reason, with the last one in its title; null when it had none. A worker
// replaced for a limit or a health check starts in another wid, so the
// restarts column of the process table alone may not show it.
function restartsChip(rs) {
  if (!rs || !(rs.total > 0)) return null;
  const by = rs.by_reason || {};
  const parts = [];
  let known = 0;
  for (const [k, one, many] of restartWords) {
    if (by[k] > 0) { parts.push(by[k] + " " + (by[k] === 1 ? one : many)); known += by[k]; }
  }
  if (rs.total > known) parts.push((rs.total - known) + " other");
  const l = rs.last || {};
  let title = "restarts since the watcher was added (a reload or a stop is none)";
  if (l.time > 0) {
    title += "; the last at " + new Date(l.time * 1000).toLocaleTimeString() + ", wid " + l.wid + (l.pid > 0 ? " pid " + l.pid : "") + (l.why ? ": " + l.why : "");
  }
  return el("span", { class: "kv restarts", title }, "restarts ", el("b", { text: rs.total }), " (" + parts.join(", ") + ")");
}

// drawCard draws a card's header, and its process table when the card
// is in view: with 100 watchers and 2,000 workers, redrawing every
// table at each stats round kept the page busy most of each second.
// A table out of view is drawn once it scrolls into view.
function drawCard(w, freshPid) {
  w.procsStale = !!w.offscreen;
  if (w.offscreen) renderWatcher(w); else renderProcs(w, freshPid);
}

function renderProcs(w, freshPid) {
  renderWatcher(w);
  const r = w.refs, rows = new Map();
  for (const tr of r.tbody.querySelectorAll("tr[data-pid]")) rows.set(tr.dataset.pid, tr);
  const list = procList(w);
  const slotOf = new Map((w.view.slots || []).map((s) => [String(s.wid), s]));
  const seen = new Set(list.map((p) => String(p.pid)));
  // The gone rows first: left among the others until after the walk
  // below, each made it move every row after a new one, and a moved
  // row loses the focus it holds (a keyboard user's "send SIG...").
  for (const [pid, tr] of rows) if (!seen.has(pid)) tr.remove();
  let prev = null;
  for (const p of list) {
    const pid = String(p.pid);
    let tr = rows.get(pid);
    if (!tr) {
      tr = procRow(w, pid);
      if (pid === freshPid || rows.size > 0) {
        tr.classList.add("fresh");
        setTimeout(() => tr.classList.remove("fresh"), 1500);
      }
    }
    tr.dataset.wid = p.wid != null ? p.wid : "";
    const c = tr.cells;
    setText(c[0], p.wid != null ? p.wid : "–");
    setText(c[1], pid);
    // A worker stopped by SIGSTOP or a debugger serves nobody, though
    // poold counts it ready: say so, as poolctl stats does.
    const halted = p.proc_state === "stopped" || p.proc_state === "tracing-stop";
    const state = (p.state || "running") + (halted ? " (" + p.proc_state + ")" : "");
    c[2].firstChild.className = "st " + (halted ? "s-warn" : statusClass(state));
    setText(c[2].firstChild, state);
    const slot = slotOf.get(String(p.wid));
    c[2].title = slot && slot.last_exit ? "last exit: " + slot.last_exit : "";
    // A worker's row counts its whole tree (a gunicorn master's workers,
    // what an `sh -c` runs): the worker alone may do nothing.
    const t = treeOf(p);
    const under = t.n ? "worker " + fmtCPU(Number(p.cpu) || 0) + " + " + t.n + " " + noun(t.n, "process", "processes") + " under it" : "";
    setText(c[3].firstChild, fmtCPU(p.cpu == null ? null : t.cpu));
    c[3].lastChild.firstChild.style.width = Math.min(100, t.cpu || 0) + "%";
    c[3].title = under;
    setText(c[4], t.n ? fmtBytes(t.rss) : p.mem_info1 || fmtBytes(rssOf(p)));
    c[4].title = t.n ? "worker " + (p.mem_info1 || fmtBytes(rssOf(p))) + " + " + t.n + " " + noun(t.n, "process", "processes") + " under it" : "";
    cgroupMemory(c[4], p);
    c[5].dataset.started = p.started || p.create_time || "";
    setText(c[5], fmtAge(ageOf(p)));
    setText(c[6], p.restarts != null ? p.restarts : "–");
    if (prev ? prev.nextSibling !== tr : r.tbody.firstChild !== tr) {
      if (prev) prev.after(tr); else r.tbody.prepend(tr);
    }
    prev = tr;
  }
  // Slots without a live process (backoff, paused, failed, exited), when
  // poold's status carries slots: how their last worker ended.
  for (const tr of r.tbody.querySelectorAll("tr.slot")) tr.remove();
  const idle = (w.view.slots || []).filter((s) => !NORMAL_SLOTS.has(s.state) && !(s.pid && seen.has(String(s.pid))))
    .sort((a, b) => (Number(a.wid) || 0) - (Number(b.wid) || 0));
  for (const s of idle) r.tbody.append(slotRow(s));
  let none = $("tr.noproc", r.tbody);
  const empty = list.length === 0 && idle.length === 0;
  if (empty && !none) r.tbody.append(el("tr", { class: "noproc" }, el("td", { colspan: 8, text: "no processes" })));
  else if (!empty && none) none.remove();
}

// A worker under memory_max: what its own cgroup is charged, of the
// limit, beside the RSS. The kernel's OOM killer judges that charge (the
// worker and all it started, page cache, shared pages once), not RSS;
// near the limit the cell is marked, as poolctl stats shows it.
function cgroupMemory(td, p) {
  if (p.cgroup_memory == null) { setClass(td, "num r"); return; }
  const cur = Number(p.cgroup_memory), max = Number(p.memory_max) || 0;
  td.append(el("span", { class: "cgmem", text: " · cgroup " + fmtBytes(cur) + (max ? " / " + fmtBytes(max) : "") }));
  setClass(td, "num r" + (max && cur >= 0.9 * max ? " s-warn" : ""));
  const peak = p.cgroup_memory_peak != null ? ", peak " + fmtBytes(Number(p.cgroup_memory_peak)) : "";
  td.title = (td.title ? td.title + "; " : "") + "its cgroup is charged " + fmtBytes(cur) + (max ? " of memory_max " + fmtBytes(max) +
    " (" + Math.round(100 * cur / max) + "%)" : "") + peak + ": the worker and every process it started, page cache included; the OOM killer judges this, not RSS";
}

function slotRow(s) {
  const note = el("td", { class: "slotnote", colspan: 3 });
  if (s.last_exit) note.append("last exit: ", el("b", { text: s.last_exit }));
  if (s.retry_at > 0) note.append(s.last_exit ? " · " : "", "retry ", el("span", { class: "retry", "data-at": s.retry_at, text: fmtRetry(s.retry_at) }));
  return el("tr", { class: "slot", "data-wid": s.wid != null ? s.wid : "", "data-state": s.state || "" },
    el("td", { class: "num", text: s.wid != null ? s.wid : "–" }),
    el("td", { class: "num", text: s.pid ? s.pid : "–" }),
    el("td", null, el("span", { class: "st " + slotClass(s), text: s.state || "?" })),
    note,
    el("td", { class: "num r", text: s.restarts != null ? s.restarts : "–" }),
    el("td", { class: "act-only" }));
}
// slotClass colours an empty slot: an exited one (respawn off, or a
// status no_respawn_exit_codes lists) is a success unless poold says its
// worker failed (a status the config does not declare fine, a signal).
function slotClass(s) {
  if (s.state === "exited") return s.failed ? "s-bad" : "s-ok";
  return statusClass(s.state);
}
// renderReason shows a watcher's reason with each "retrying in 5s" of a
// slot ticking as the slot rows' "retry in" do: poold words the time
// when it answers, and the page shows the reason until it changes.
function renderReason(node, reason, slots) {
  if (node._text === reason && node._slots === JSON.stringify(slots)) return;
  node._text = reason; node._slots = JSON.stringify(slots);
  const at = new Map(slots.filter((s) => s.retry_at > 0).map((s) => [String(s.wid), s.retry_at]));
  const parts = [];
  let last = 0, wid = null;
  for (const m of reason.matchAll(/\bwid (\d+)\b|\bretrying (in \S+?|now)(?=[;,.]|$)/g)) {
    if (m[1]) { wid = m[1]; continue; }
    if (!at.has(wid)) continue;
    parts.push(reason.slice(last, m.index) + "retrying ", el("span", { class: "retry", "data-at": at.get(wid), text: fmtRetry(at.get(wid)) }));
    last = m.index + m[0].length;
  }
  node.replaceChildren(...parts, reason.slice(last));
}
export function fmtRetry(at) {
  const d = at - serverNow();
  return d < 1 ? "now" : "in " + fmtAge(d);
}

function ageOf(p) {
  const started = Number(p.started || p.create_time);
  if (started > 0) return serverNow() - started;
  return p.age;
}

function procRow(w, pid) {
  // The signal menu gets its options when it is first used: built for
  // every row up front they were a third of a big page's nodes, all laid
  // out again at each redraw. Choosing a signal only names it; its own
  // button sends it. Sent on choosing, the arrow keys that walk a closed
  // menu sent each signal they passed (Down once: SIGHUP to the worker).
  const sig = el("select", { class: "act-only", title: "choose a signal for this process", "aria-label": "signal for pid " + pid },
    el("option", { value: "", text: "signal…" }));
  let go = null; // the send button, made when a signal is first chosen
  const fill = () => { if (sig.options.length === 1) sig.append(...SIGNALS.map((s) => el("option", { value: s, text: s }))); };
  sig.addEventListener("pointerdown", fill);
  sig.addEventListener("focus", fill);
  sig.addEventListener("change", () => {
    if (!go) {
      go = el("button", { class: "btn xs danger confirm", "data-act": "signal" });
      go.addEventListener("click", () => {
        const s = sig.value;
        sig.value = ""; sig.focus(); go.hidden = true;
        if (s) doAction(null, w, "signal", { name: w.view.name, pid: Number(pid), signum: s }, "SIG" + s + " → " + pid);
      });
      sig.after(go);
    }
    go.hidden = !sig.value;
    go.textContent = "send SIG" + sig.value;
    go.title = "send SIG" + sig.value + " to process " + pid;
  });
  const kill = el("button", { class: "btn xs danger", "data-act": "kill", title: "kill this process (click twice); poold replaces it" }, "kill");
  kill.addEventListener("click", (ev) => confirmThen(kill, () =>
    doAction(kill, w, "kill", { name: w.view.name, pid: Number(pid) }, "kill " + pid), ev));
  return el("tr", { "data-pid": pid },
    el("td", { class: "num" }), el("td", { class: "num" }), el("td", null, el("span", { class: "st" })),
    el("td", { class: "num r" }, el("span"), el("span", { class: "bar" }, el("i"))),
    el("td", { class: "num r" }), el("td", { class: "num r age" }), el("td", { class: "num r" }),
    el("td", { class: "pact act-only" }, sig, kill));
}
