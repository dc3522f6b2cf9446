// poold console: constants, DOM helpers and formatting, shared by the
// other modules (no state).

export const HISTORY = 600;        // points kept per watcher (10 min at 1 s)
export const WINDOW = 300;         // seconds shown in a chart
export const MAX_EVENTS = 500;     // events kept in the log
export const SIGNALS = ["HUP", "INT", "QUIT", "TERM", "USR1", "USR2", "TTIN", "TTOU", "KILL"];

export const $ = (sel, root = document) => root.querySelector(sel);
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
export const setText = (e, t) => { t = String(t); if (e.textContent !== t) e.textContent = t; };
export const setClass = (e, c) => { if (e.className !== c) e.className = c; };

// ---- formatting ----
export function fmtBytes(b) {
  if (!(b > 0)) return "–";
  const u = ["B", "K", "M", "G", "T"]; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (b >= 100 || i === 0 ? b.toFixed(0) : b.toFixed(1)) + u[i];
}
function parseSize(s) {
  if (typeof s === "number") return s;
  if (typeof s !== "string" || !s) return 0;
  const m = /^([\d.]+)\s*([BKMGT]?)/i.exec(s.trim());
  if (!m) return 0;
  return parseFloat(m[1]) * ({ "": 1, B: 1, K: 1024, M: 1048576, G: 1073741824, T: 1099511627776 })[m[2].toUpperCase()];
}
export const rssOf = (p) => p.rss != null ? Number(p.rss) : parseSize(p.mem_info1);
// treeOf sums cpu and resident bytes over a process and its children.
export function treeOf(p) {
  const t = { cpu: Number(p.cpu) || 0, rss: rssOf(p), n: 0 };
  for (const ch of p.children || []) {
    const u = treeOf(ch);
    t.cpu += u.cpu; t.rss += u.rss; t.n += 1 + u.n;
  }
  return t;
}
export function fmtAge(s) {
  if (s == null || isNaN(s)) return "–";
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + String(Math.floor(s / 3600) % 24).padStart(2, "0") + "h";
}
// noun is the word for n things: "watcher" for 1, "watchers" else;
// many gives a plural other than one+"s" ("processes").
export const noun = (n, one, many = one + "s") => (n === 1 ? one : many);
export const fmtCPU = (c) => (c == null || isNaN(c)) ? "–" : (c >= 10 ? c.toFixed(0) : c.toFixed(1)) + "%";
export function fmtDur(v) {
  if (typeof v === "number") return v >= 1 || v === 0 ? +v.toFixed(2) + "s" : Math.round(v * 1000) + "ms";
  return String(v);
}
// One formatter for every event's time (toLocaleTimeString makes one per call).
const timeFmt = new Intl.DateTimeFormat([], { hour: "numeric", minute: "numeric", second: "numeric", hour12: false });
export const fmtTime = (t) => timeFmt.format(new Date(t * 1000));
// Options arrive with durations in seconds and counts as plain numbers:
// only the duration keys get a unit.
const DURATIONS = new Set(["ready_delay", "ready_timeout", "health_interval", "health_timeout", "graceful_timeout",
  "backoff_min", "backoff_max", "backoff_reset", "warmup_delay", "max_age", "max_age_variance", "flapping_window", "flapping_retry_in"]);
export const fmtOpt = (k, v) => typeof v === "object" ? JSON.stringify(v) : DURATIONS.has(k) ? fmtDur(v) : String(v);
// A readiness or health key matters only when the watcher has that check.
export function probeKey(o, k) {
  if (/^health_/.test(k)) return k === "health_check" || !!o.health_check;
  if (/^ready_/.test(k)) return !!o.readiness && o.readiness !== "spawn";
  return k === "readiness";
}
// Slot states that need no row of their own (poold's status slots).
export const NORMAL_SLOTS = new Set(["running", "starting", "ready", "stopping"]);
export function statusClass(s) {
  s = String(s || "").toLowerCase();
  if (["active", "running", "ready", "healthy", "ok"].includes(s)) return "s-ok";
  if (["starting", "stopping", "spawned", "reloading", "waiting", "unready", "draining"].includes(s)) return "s-warn";
  if (["backoff", "failed", "crashed", "unhealthy", "flapping", "error", "dead", "exited", "paused"].includes(s)) return "s-bad";
  return "s-idle";
}
