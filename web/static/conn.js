// poold console: the websocket to poold and the page's model of it.
// Each message updates the model at once and asks cards.js to draw what
// changed on the next frame.

import { HISTORY, MAX_EVENTS, $, el, setText } from "./util.js";
import { later, laterCard, laterChart, inView, upsertWatcher, removeWatcher, resetView } from "./cards.js";

// ---- state ----
export const st = {
  readOnly: false,
  watchers: new Map(),  // name -> {view, hist:[[t,cpu,rss]], card refs}
  sockets: [],
  poold: null,
  events: [],
  skew: 0,              // server time - local time, seconds
  lastStats: 0,
  queued: {},           // socket fd -> {queue, limit}
  qhist: {},            // socket fd -> [[t, queue]] for its chart
  lastSeq: 0,           // last event seen: a reconnect resumes after it
  loaded: false,        // the console has read poold's watchers
};
export const serverNow = () => Date.now() / 1000 + st.skew;

// ---- websocket ----
let ws = null, retry = 500, nextID = 1;
let refused = null; // why the server refuses this page, once it said so
const waiting = new Map(); // id -> callback
export const logsToReopen = new Set(); // watchers whose log pane a reconnect closed
let heartbeat = 0;  // seconds between poold's heartbeats (its hello says); 0 = none
let lastHeard = 0, lastTick = 0; // ms: the last message, the last watchdog tick
// besidePage is the URL of rel beside this page: under whatever path a
// proxy serves the console at (/ops/poold/ws), not the host's root.
function besidePage(rel, socket) {
  const u = new URL(rel, location.href);
  if (socket) u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}
export function connect() {
  if (!refused) setConn("wait", "connecting…");
  // A reconnect asks for the events after the last one it saw: no gap.
  const since = st.lastSeq ? "?since=" + st.lastSeq : "";
  const sock = ws = new WebSocket(besidePage("ws" + since, true));
  ws.onopen = () => { sock.opened = true; retry = 500; refused = null; lastHeard = Date.now(); setConn("live", "live"); };
  ws.onmessage = (m) => {
    lastHeard = Date.now();
    let msg; try { msg = JSON.parse(m.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = (e) => {
    // 1012: poold re-executes itself (an in-place upgrade); its new
    // image answers as soon as it has taken over: not an outage.
    if (e.code === 1012) { restarting(); return; }
    lost("disconnected – retrying", !sock.opened);
  };
}
function restarting() {
  for (const cb of waiting.values()) cb({ status: "error", reason: "poold is upgrading in place; send it again" });
  waiting.clear();
  setConn("wait", "poold upgrading – reconnecting");
  retry = 500;
  setTimeout(connect, 50);
}
function lost(text, neverOpened) {
  for (const cb of waiting.values()) cb({ status: "error", reason: "connection to poold lost" });
  waiting.clear();
  if (refused) setConn("down", refused.text, refused.why);
  else setConn("down", text);
  whyRefused(neverOpened);
  setTimeout(connect, retry);
  retry = Math.min(retry * 2, 5000);
}
// watchdog runs every second. poold sends a heartbeat every few
// seconds; a connection that stays silent for three of them is dead
// without a close (a laptop that slept, a NAT that forgot it, a stopped
// poold): the page says so and connects again rather than show stale
// data as live. A page that was itself frozen (asleep, a background
// tab, a long task) first gives the connection a fresh chance.
export function watchdog() {
  const now = Date.now();
  if (lastTick && now - lastTick > 3000) lastHeard = Math.max(lastHeard, now);
  lastTick = now;
  if (!heartbeat || !ws || ws.readyState !== WebSocket.OPEN) return;
  const silent = (now - lastHeard) / 1000;
  if (silent <= heartbeat * 3 + 2) return;
  const dead = ws;
  dead.onopen = dead.onmessage = dead.onclose = null;
  dead.close();
  lost("no word from poold for " + Math.round(silent) + " s – reconnecting");
}
const NO_SOCKET = "poold answers this page but its websocket (ws beside it) did not open: too many consoles open, " +
  "or a proxy in front that changes Host (pass it as the browser sent it: nginx's $http_host) or drops the Upgrade and Connection headers; poold's log says which";
// A refused websocket tells the page nothing; a plain request to the
// same server says why (a token replaced by a reload: sign in again).
// A page poold answers whose websocket never opened is most often behind
// a proxy that changes Host or drops the websocket's headers (README:
// "Behind a proxy"); the title says so.
function whyRefused(neverOpened) {
  fetch(besidePage("favicon.ico"), { cache: "no-store" }).then(async (r) => {
    if (r.status !== 401 && r.status !== 429) {
      refused = null;
      if (r.ok && neverOpened && ws && ws.readyState !== WebSocket.OPEN) setConn("down", "disconnected – retrying", NO_SOCKET);
      return;
    }
    const why = (await r.text()).trim();
    refused = r.status === 401
      ? { text: "signed out – reopen this page with ?token=YOUR_TOKEN", why }
      : { text: "refused – too many failed tokens; retrying", why };
    if (!ws || ws.readyState !== WebSocket.OPEN) setConn("down", refused.text, refused.why);
  }).catch(() => {});
}
function setConn(kind, text, title) {
  const c = $("#conn"); c.className = "conn conn-" + kind; setText(c, text); c.title = title || "websocket";
}
export function send(command, properties) {
  return new Promise((resolve) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) { resolve({ status: "error", reason: "not connected to poold" }); return; }
    const id = "c" + (nextID++);
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ id, command, properties }));
  });
}

function handle(msg) {
  switch (msg.type) {
    case "heartbeat": break;
    case "hello":
      heartbeat = Number(msg.heartbeat) || 0;
      st.readOnly = !!msg.read_only;
      document.body.classList.toggle("readonly", st.readOnly);
      $("#ro").hidden = !st.readOnly;
      if (msg.resumed) for (const e of (msg.events || [])) st.events.unshift(e);
      else st.events = (msg.events || []).slice().reverse();
      if (st.events.length > MAX_EVENTS) st.events.length = MAX_EVENTS;
      // Not resumed: the page now stands where these events end (after a
      // restart of poold, its numbers started again).
      if (!msg.resumed) st.lastSeq = 0;
      noteSeq(msg.events);
      // The cards are built again (now, or as the watchers come): a log
      // pane open before opens again, reading its watcher's recent
      // lines afresh, and the old one's polling stops.
      for (const [name, w] of st.watchers) {
        if (w.logs && w.logs.isOpen()) logsToReopen.add(name);
        if (w.logs) w.logs.close();
        inView.unobserve(w.card);
        w.card.remove();
      }
      st.watchers.clear();
      // A hello from an older poold carries every watcher's history;
      // otherwise each card asks for its own as it comes into view.
      applyState(msg.state, msg.history || null);
      // Tells the hub this page applies syncs; a page of an older poold,
      // which does not, gets whole states instead.
      send("console_sync", { names: [] });
      // This connection's hub has not heard which cards the page shows.
      resetView();
      later("events");
      if (window.pooldFleet) window.pooldFleet.render(msg.fleet || [], st.readOnly);
      break;
    case "fleet": if (window.pooldFleet) window.pooldFleet.render(msg.hosts || [], st.readOnly); break;
    case "state": applyState(msg.state, null); break;
    case "sync": applySync(msg); break;
    case "history": applyHistory(msg.history || {}); break;
    case "watcher":
      if (msg.removed) removeWatcher(msg.name);
      else { upsertWatcher(msg.watcher); later("sort"); }
      later("summary"); later("filter"); later("sockets");
      break;
    case "events":
      for (const e of msg.events) { applyEvent(e); st.events.unshift(e); }
      noteSeq(msg.events);
      if (st.events.length > MAX_EVENTS) st.events.length = MAX_EVENTS;
      later("events"); later("summary");
      break;
    case "stats": applyStats(msg); break;
    case "reply": {
      const cb = waiting.get(msg.id);
      if (cb) { waiting.delete(msg.id); cb(msg.reply || {}); }
      break;
    }
  }
}

function applyState(s, history) {
  if (!s) return;
  const banner = $("#banner");
  banner.hidden = !s.error; setText(banner, s.error || "");
  const names = new Set();
  for (const v of s.watchers || []) {
    names.add(v.name);
    upsertWatcher(v);
    if (history) {
      const w = st.watchers.get(v.name);
      w.hist = (history[v.name] || []).slice(-HISTORY);
      w.histWanted = false;
    }
  }
  for (const name of [...st.watchers.keys()]) if (!names.has(name)) removeWatcher(name);
  st.sockets = s.sockets || [];
  st.loaded = !!s.loaded;
  if (s.poold) st.poold = s.poold;
  showEmpty();
  later("sort"); later("sockets"); later("self"); later("summary"); later("filter");
  for (const w of st.watchers.values()) laterChart(w);
}

// showEmpty says so when there is no watcher to show.
function showEmpty() {
  const empty = $("#watchers .empty"), text = st.loaded ? "No watchers configured." : "Waiting for poold…";
  if (st.watchers.size === 0) {
    if (!empty) $("#watchers").append(el("p", { class: "empty", text }));
    else setText(empty, text);
  } else if (empty) empty.remove();
}
// applySync takes a sync: the watchers that changed (or that this page
// asked for), those removed, and every watcher's version. A watcher
// this page holds at another version, or lacks, it missed a message
// for: it asks for those again; one the sync does not list is gone.
function applySync(msg) {
  for (const v of msg.watchers || []) upsertWatcher(v);
  for (const name of msg.removed || []) removeWatcher(name);
  const banner = $("#banner");
  banner.hidden = !msg.error; setText(banner, msg.error || "");
  st.loaded = !!msg.loaded;
  st.sockets = msg.sockets || [];
  if (msg.poold) { st.poold = msg.poold; later("self"); }
  const versions = msg.versions || {};
  for (const name of [...st.watchers.keys()]) if (!Object.hasOwn(versions, name)) removeWatcher(name);
  const stale = Object.keys(versions).filter((n) => { const w = st.watchers.get(n); return !w || w.view.v !== versions[n]; });
  if (stale.length) send("console_sync", { names: stale });
  showEmpty();
  later("sort"); later("sockets"); later("summary"); later("filter");
}
// applyHistory merges the CPU/RSS points this page asked for, or was
// sent for a card shown again, with those it has had live.
function applyHistory(history) {
  for (const [name, pts] of Object.entries(history)) {
    const w = st.watchers.get(name);
    if (!w) continue;
    const have = new Set(w.hist.map((p) => p[0]));
    const add = pts.filter((p) => !have.has(p[0]));
    if (!add.length) continue;
    w.hist = w.hist.concat(add).sort((a, b) => a[0] - b[0]).slice(-HISTORY);
    laterChart(w);
  }
}

function noteSeq(evs) {
  for (const e of (evs || [])) if (e.seq > st.lastSeq) st.lastSeq = e.seq;
}
function applyEvent(e) {
  const w = st.watchers.get(e.watcher);
  if (!w) return;
  // What the page made of the event is its own guess: the next sync
  // finds the version unknown and asks for the watcher as poold has it,
  // unless poold's own update of it comes first.
  w.view.v = "";
  const f = e.fields || {};
  const pid = f.process_pid != null ? String(f.process_pid) : "";
  if (e.kind === "spawn" && pid && !w.view.procs[pid]) {
    w.view.procs[pid] = { pid: Number(pid), wid: f.process_id, state: "spawned", started: e.time, age: 0 };
    laterCard(w, pid);
  } else if (e.kind === "reap" && pid) {
    delete w.view.procs[pid];
    laterCard(w);
  } else if (e.kind === "scale" && f.to != null) {
    // An elastic pool changed its size: the new target, and why.
    w.view.options.numprocesses = f.to;
    w.view.lastScale = f.from + " → " + f.to + ": " + f.reason;
    laterCard(w);
  }
}

function applyStats(msg) {
  if (msg.time) { st.skew = msg.time - Date.now() / 1000; st.lastStats = msg.time; }
  for (const [name, procs] of Object.entries(msg.procs || {})) {
    const w = st.watchers.get(name);
    if (!w) continue;
    Object.assign(w.view.procs, procs);
    laterCard(w);
  }
  // The samples of the cards this page shows (console_view), without
  // what a process keeps for its life: that stays from the row it has.
  for (const [name, procs] of Object.entries(msg.samples || {})) {
    const w = st.watchers.get(name);
    if (!w) continue;
    for (const [pid, s] of Object.entries(procs)) {
      const old = w.view.procs[pid];
      // A process this page has not heard of: the next sync brings it whole.
      if (!old) w.view.v = "";
      const keep = old ? { pid: old.pid, wid: old.wid, started: old.started, create_time: old.create_time, restarts: old.restarts } : { pid: Number(pid) };
      for (const k of Object.keys(keep)) if (keep[k] === undefined) delete keep[k];
      w.view.procs[pid] = Object.assign(keep, s);
    }
    laterCard(w);
  }
  for (const [name, p] of Object.entries(msg.points || {})) {
    const w = st.watchers.get(name);
    if (!w) continue;
    w.hist.push(p);
    if (w.hist.length > HISTORY) w.hist.splice(0, w.hist.length - HISTORY);
    laterChart(w);
  }
  if (msg.poold) { st.poold = msg.poold; later("self"); }
  if (msg.sockets) {
    st.queued = {};
    for (const q of msg.sockets) {
      const n = q.queue != null ? q.queue : q.reads;
      st.queued[q.fd] = { queue: n, limit: q.queue_limit };
      const h = st.qhist[q.fd] = st.qhist[q.fd] || [];
      h.push([msg.time || Date.now() / 1000, Number(n) || 0]);
      if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
    }
    later("sockets");
  }
  later("summary");
}
