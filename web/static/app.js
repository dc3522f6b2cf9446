// poold console. Plain JS, no build step, no network access beyond this
// origin's websocket. The server pushes everything; only the log pane (logs.js)
// asks for new lines, twice a second while it is open.
"use strict";

(() => {
  const HISTORY = 600;        // points kept per watcher (10 min at 1 s)
  const WINDOW = 300;         // seconds shown in a chart
  const MAX_EVENTS = 500;     // events kept in the log
  const SIGNALS = ["HUP", "INT", "QUIT", "TERM", "USR1", "USR2", "TTIN", "TTOU", "KILL"];

  const $ = (sel, root = document) => root.querySelector(sel);
  function el(tag, attrs, ...kids) {
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
  const setText = (e, t) => { t = String(t); if (e.textContent !== t) e.textContent = t; };
  const setClass = (e, c) => { if (e.className !== c) e.className = c; };

  // ---- formatting ----
  function fmtBytes(b) {
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
  const rssOf = (p) => p.rss != null ? Number(p.rss) : parseSize(p.mem_info1);
  // treeOf sums cpu and resident bytes over a process and its children.
  function treeOf(p) {
    const t = { cpu: Number(p.cpu) || 0, rss: rssOf(p), n: 0 };
    for (const ch of p.children || []) {
      const u = treeOf(ch);
      t.cpu += u.cpu; t.rss += u.rss; t.n += 1 + u.n;
    }
    return t;
  }
  function fmtAge(s) {
    if (s == null || isNaN(s)) return "–";
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d" + String(Math.floor(s / 3600) % 24).padStart(2, "0") + "h";
  }
  const fmtCPU = (c) => (c == null || isNaN(c)) ? "–" : (c >= 10 ? c.toFixed(0) : c.toFixed(1)) + "%";
  function fmtDur(v) {
    if (typeof v === "number") return v >= 1 || v === 0 ? +v.toFixed(2) + "s" : Math.round(v * 1000) + "ms";
    return String(v);
  }
  // One formatter for every event's time (toLocaleTimeString makes one per call).
  const timeFmt = new Intl.DateTimeFormat([], { hour: "numeric", minute: "numeric", second: "numeric", hour12: false });
  const fmtTime = (t) => timeFmt.format(new Date(t * 1000));
  // Options arrive with durations in seconds and counts as plain numbers:
  // only the duration keys get a unit.
  const DURATIONS = new Set(["ready_delay", "ready_timeout", "health_interval", "health_timeout", "graceful_timeout",
    "backoff_min", "backoff_max", "backoff_reset", "warmup_delay", "max_age", "max_age_variance", "flapping_window", "flapping_retry_in"]);
  const fmtOpt = (k, v) => typeof v === "object" ? JSON.stringify(v) : DURATIONS.has(k) ? fmtDur(v) : String(v);
  // A readiness or health key matters only when the watcher has that check.
  function probeKey(o, k) {
    if (/^health_/.test(k)) return k === "health_check" || !!o.health_check;
    if (/^ready_/.test(k)) return !!o.readiness && o.readiness !== "spawn";
    return k === "readiness";
  }
  // Slot states that need no row of their own (poold's status slots).
  const NORMAL_SLOTS = new Set(["running", "starting", "ready", "stopping"]);
  function statusClass(s) {
    s = String(s || "").toLowerCase();
    if (["active", "running", "ready", "healthy", "ok"].includes(s)) return "s-ok";
    if (["starting", "stopping", "spawned", "reloading", "waiting", "unready", "draining"].includes(s)) return "s-warn";
    if (["backoff", "failed", "crashed", "unhealthy", "flapping", "error", "dead", "exited", "paused"].includes(s)) return "s-bad";
    return "s-idle";
  }

  // ---- state ----
  const st = {
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
  const serverNow = () => Date.now() / 1000 + st.skew;

  // ---- websocket ----
  let ws = null, retry = 500, nextID = 1;
  let refused = null; // why the server refuses this page, once it said so
  const waiting = new Map(); // id -> callback
  const logsToReopen = new Set(); // watchers whose log pane a reconnect closed
  let heartbeat = 0;  // seconds between poold's heartbeats (its hello says); 0 = none
  let lastHeard = 0, lastTick = 0; // ms: the last message, the last watchdog tick
  function connect() {
    if (!refused) setConn("wait", "connecting…");
    // A reconnect asks for the events after the last one it saw: no gap.
    const since = st.lastSeq ? "?since=" + st.lastSeq : "";
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + since);
    ws.onopen = () => { retry = 500; refused = null; lastHeard = Date.now(); setConn("live", "live"); };
    ws.onmessage = (m) => {
      lastHeard = Date.now();
      let msg; try { msg = JSON.parse(m.data); } catch { return; }
      handle(msg);
    };
    ws.onclose = (e) => {
      // 1012: poold re-executes itself (an in-place upgrade); its new
      // image answers as soon as it has taken over: not an outage.
      if (e.code === 1012) { restarting(); return; }
      lost("disconnected – retrying");
    };
  }
  function restarting() {
    for (const cb of waiting.values()) cb({ status: "error", reason: "poold is upgrading in place; send it again" });
    waiting.clear();
    setConn("wait", "poold upgrading – reconnecting");
    retry = 500;
    setTimeout(connect, 50);
  }
  function lost(text) {
    for (const cb of waiting.values()) cb({ status: "error", reason: "connection to poold lost" });
    waiting.clear();
    if (refused) setConn("down", refused.text, refused.why);
    else setConn("down", text);
    whyRefused();
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  }
  // watchdog runs every second. poold sends a heartbeat every few
  // seconds; a connection that stays silent for three of them is dead
  // without a close (a laptop that slept, a NAT that forgot it, a stopped
  // poold): the page says so and connects again rather than show stale
  // data as live. A page that was itself frozen (asleep, a background
  // tab, a long task) first gives the connection a fresh chance.
  function watchdog() {
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
  // A refused websocket tells the page nothing; a plain request to the
  // same server says why (a token replaced by a reload: sign in again).
  function whyRefused() {
    fetch("/favicon.ico", { cache: "no-store" }).then(async (r) => {
      if (r.status !== 401 && r.status !== 429) { refused = null; return; }
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
  function send(command, properties) {
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
  // applyHistory puts the CPU/RSS history this page asked for before the
  // points it has had live since.
  function applyHistory(history) {
    for (const [name, pts] of Object.entries(history)) {
      const w = st.watchers.get(name);
      if (!w) continue;
      const first = w.hist.length ? w.hist[0][0] : Infinity;
      w.hist = pts.filter((p) => p[0] < first).concat(w.hist).slice(-HISTORY);
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

  // ---- drawing, once a frame ----
  // A message updates the model at once; the page is drawn from it at most
  // once per animation frame, however many messages came in between. A
  // big poold under churn sends dozens a second, and drawing the page
  // after each one made it fall minutes behind while it said "live". A
  // hidden tab draws nothing until it is shown again.
  const todo = { cards: new Map(), charts: new Set(), sort: false, sockets: false, self: false, summary: false, filter: false, events: false };
  let frame = 0;
  const ask = () => { if (!frame) frame = requestAnimationFrame(draw); };
  function later(what) { todo[what] = true; ask(); }
  function laterCard(w, freshPid) { todo.cards.set(w, freshPid || todo.cards.get(w)); ask(); }
  function laterChart(w) { todo.charts.add(w); ask(); }
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
  }

  // ---- watchers ----
  // A hello brings no CPU/RSS history: each card asks for its own the
  // first time it comes into view (asked once a frame, for all at once).
  const histAsk = new Set();
  const inView = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const w = st.watchers.get(e.target.dataset.watcher);
      if (!e.isIntersecting || !w || w.card !== e.target || !w.histWanted) continue;
      w.histWanted = false;
      histAsk.add(w.view.name);
      ask();
    }
  });
  function upsertWatcher(v) {
    v.procs = v.procs || {}; v.options = v.options || {};
    let w = st.watchers.get(v.name);
    if (!w) {
      w = { view: v, hist: [], histWanted: true };
      buildCard(w);
      inView.observe(w.card);
      st.watchers.set(v.name, w);
      $("#watchers").append(w.card);
    }
    w.view = v;
    laterCard(w);
  }
  function removeWatcher(name) {
    const w = st.watchers.get(name);
    if (!w) return;
    if (w.logs) w.logs.close();
    inView.unobserve(w.card);
    w.card.remove();
    st.watchers.delete(name);
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
    // What is wrong, when poold says (flapping, failed, a slot in backoff).
    if (r.reason.hidden !== !v.reason) r.reason.hidden = !v.reason;
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
    const key = JSON.stringify([o, v.lastScale, states]);
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
    if (o.on_demand || o.max_workers > 0) {
      const hi = o.max_workers > 0 ? o.max_workers : Math.max(o.numprocesses || 0, 1);
      meta.push(el("span", { class: "kv elastic", title: v.lastScale || "no scale decision yet" },
        "elastic ", el("b", { text: (o.min_workers || 0) + "–" + hi }), o.on_demand ? " on demand" : ""));
    }
    if (o.respawn === false) meta.push(kv("respawn", "off"));
    if (o.backoff_min != null || o.backoff_max != null) meta.push(kv("backoff", fmtDur(o.backoff_min) + "–" + fmtDur(o.backoff_max)));
    if (o.graceful_timeout != null) meta.push(kv("graceful", fmtDur(o.graceful_timeout)));
    const sk = Object.keys(states);
    if (sk.length && !(sk.length === 1 && statusClass(sk[0]) === "s-ok")) {
      meta.push(el("span", { class: "kv" }, ...sk.map((s) => el("span", { class: "st " + statusClass(s), text: states[s] + " " + s + " " }))));
    }
    meta.push(r.outcome);
    r.meta.replaceChildren(...meta);
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
      const under = t.n ? "worker " + fmtCPU(Number(p.cpu) || 0) + " + " + t.n + " processes under it" : "";
      setText(c[3].firstChild, fmtCPU(p.cpu == null ? null : t.cpu));
      c[3].lastChild.firstChild.style.width = Math.min(100, t.cpu || 0) + "%";
      c[3].title = under;
      setText(c[4], t.n ? fmtBytes(t.rss) : p.mem_info1 || fmtBytes(rssOf(p)));
      c[4].title = t.n ? "worker " + (p.mem_info1 || fmtBytes(rssOf(p))) + " + " + t.n + " processes under it" : "";
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

  function slotRow(s) {
    const note = el("td", { class: "slotnote", colspan: 3 });
    if (s.last_exit) note.append("last exit: ", el("b", { text: s.last_exit }));
    if (s.retry_at > 0) note.append(s.last_exit ? " · " : "", "retry ", el("span", { class: "retry", "data-at": s.retry_at, text: fmtRetry(s.retry_at) }));
    return el("tr", { class: "slot", "data-wid": s.wid != null ? s.wid : "", "data-state": s.state || "" },
      el("td", { class: "num", text: s.wid != null ? s.wid : "–" }),
      el("td", { class: "num", text: s.pid ? s.pid : "–" }),
      el("td", null, el("span", { class: "st " + statusClass(s.state), text: s.state || "?" })),
      note,
      el("td", { class: "num r", text: s.restarts != null ? s.restarts : "–" }),
      el("td", { class: "act-only" }));
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
  function fmtRetry(at) {
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

  // ---- actions ----
  // confirmThen runs fn on a second click within the window. The armed
  // state is said aloud (a screen reader does not read a focused button's
  // new text), and a click from the keyboard (ev.detail 0) gets a longer
  // window: the announcement takes time to hear.
  function confirmThen(btn, fn, ev) {
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
  function runAction(btn, w, cmd, extra, ev) {
    const props = { name: w.view.name };
    if (cmd === "incr" || cmd === "decr") props.nb = 1;
    if (cmd === "reload") props.graceful = true;
    const go = () => doAction(btn, w, cmd, props, cmd);
    if (extra.confirm) confirmThen(btn, go, ev); else go();
  }
  async function doAction(btn, w, cmd, props, label) {
    if (btn) { btn.disabled = true; btn.classList.add("busy"); }
    const rep = await send(cmd, props);
    if (btn) { btn.disabled = false; btn.classList.remove("busy"); }
    const ok = rep.status !== "error"; // status replies carry the watcher's status there
    const what = (w ? w.view.name + ": " : "") + label;
    let text = ok ? "ok" : (rep.reason || "failed");
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
      o.className = "outcome " + (ok ? "ok" : "err");
      o.textContent = (ok ? "✓ " : "✗ ") + label + (ok ? "" : ": " + text);
      clearTimeout(o._t);
      o._t = setTimeout(() => { o.textContent = ""; }, ok ? 4000 : 15000);
      if (ok && rep.numprocesses != null) { w.view.options.numprocesses = rep.numprocesses; laterCard(w); }
    }
    toast(what, ok, text, later.length > 0 || warned.length > 0);
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
  function toast(what, ok, text, warn) {
    const t = el("div", { class: "toast" + (ok ? "" : " err") + (warn ? " warn" : ""), role: "status", "data-ok": ok ? "1" : "0" },
      el("b", { text: what }), " — " + text);
    $("#toasts").prepend(t);
    while ($("#toasts").children.length > 5) $("#toasts").lastChild.remove();
    setTimeout(() => t.remove(), ok && !warn ? 4000 : 12000);
  }

  // ---- charts ----
  function drawCharts(w) {
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
  function color(name) {
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
  function spark(canvas, h, k, color, top) {
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

  // ---- side panels ----
  function renderSockets() {
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
  function renderSelf() {
    const p = st.poold;
    if (!p) return;
    $("#self").replaceChildren("poold ", el("b", { text: p.pid }), "  cpu ", el("b", { text: fmtCPU(Number(p.cpu)) }),
      "  rss ", el("b", { text: p.mem_info1 || fmtBytes(rssOf(p)) }), "  up ", el("b", { text: fmtAge(p.age) }));
  }
  function renderSummary() {
    // Until the console has read poold's watchers (a big poold starting
    // takes seconds), it has no counts: "0 watchers" beside "live" said
    // poold ran nothing while poolctl listed hundreds of processes.
    if (!st.loaded && st.watchers.size === 0) { $("#summary").replaceChildren("reading poold's watchers…"); return; }
    let procs = 0, active = 0;
    for (const w of st.watchers.values()) { procs += Object.keys(w.view.procs).length; if (statusClass(w.view.status) === "s-ok") active++; }
    $("#summary").replaceChildren(el("b", { text: st.watchers.size }), " watchers · ", el("b", { text: active }), " active · ",
      el("b", { text: procs }), " processes");
  }
  function renderFilter() {
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
  function renderEvents() {
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

  // The fleet view (fleet.js) sends through this page's websocket.
  window.pooldConsole = { send, toast };

  // ---- boot ----
  document.addEventListener("DOMContentLoaded", () => {
    // What is scrolled to the top of the view stops below the sticky
    // header (whose height grows as it wraps), not under it.
    const top = $("header.top");
    new ResizeObserver(() => { document.documentElement.style.scrollPaddingTop = top.offsetHeight + 8 + "px"; }).observe(top);
    $("#evfilter").addEventListener("change", renderEvents);
    const rc = $("#reloadconfig");
    rc.classList.add("act-only");
    // waiting: the reply is the reload's outcome, so a rejected config
    // shows here rather than only in poold's log.
    rc.addEventListener("click", (ev) => confirmThen(rc, () => doAction(rc, null, "reloadconfig", { waiting: true }, "reload config"), ev));
    // Ages tick locally between samples, in the cards in view; the data
    // itself is pushed.
    setInterval(() => {
      for (const w of st.watchers.values()) {
        if (w.offscreen) continue;
        for (const td of w.refs.tbody.querySelectorAll("td.age[data-started]")) {
          const s = Number(td.dataset.started);
          if (s > 0) setText(td, fmtAge(serverNow() - s));
        }
      }
      for (const e of document.querySelectorAll("span.retry[data-at]")) setText(e, fmtRetry(Number(e.dataset.at)));
      watchdog();
    }, 1000);
    connect();
  });
})();
