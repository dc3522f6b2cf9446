// poold console: the log pane of a watcher (cards.js attaches one to each
// card). While open it asks poold for the lines after the last one it has
// (the "logs" command over the websocket) twice a second, at most
// PER_POLL lines each time: the browser gets at most 500 lines a second
// whatever the workers write, and the pane says how many it skipped
// (poolctl logs -f and the log files have every line).
"use strict";

window.pooldLogs = (() => {
  const EVERY = 500;     // ms between polls
  const PER_POLL = 250;  // lines per poll: 500 lines/s at most
  const KEEP = 1000;     // lines kept in memory (the search runs over them)
  const SHOW = 500;      // lines in the page

  // Terminal escapes (colours, cursor moves, window titles) are meant for
  // a terminal: the pane shows, and searches, the text without them.
  const ESCAPES = /\x1b(?:\[[0-?]*[ -\/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
  const plain = (line) => String(line).replace(ESCAPES, "");

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    e.append(...kids);
    return e;
  }

  // attach adds a "Logs" button to card's head and the pane below it.
  // wids() lists the current workers' wids; send(command, props) returns a
  // promise of poold's reply.
  function attach(card, name, wids, send) {
    const btn = el("button", { class: "btn", "data-act": "logs", title: "show the workers' stdout and stderr, live" }, "Logs");
    const wid = el("select", { class: "lwid", "aria-label": "worker" });
    const stream = el("select", { class: "lstream", "aria-label": "stream" },
      el("option", { value: "", text: "stdout + stderr" }), el("option", { value: "stdout", text: "stdout" }),
      el("option", { value: "stderr", text: "stderr" }));
    const search = el("input", { class: "lsearch", type: "search", placeholder: "search", "aria-label": "search the lines" });
    const pause = el("input", { class: "lpause", type: "checkbox" });
    const stat = el("span", { class: "lstat" });
    const pre = el("pre", { class: "loglines" });
    const pane = el("div", { class: "logpane", "data-logs": name, hidden: "" },
      el("div", { class: "logbar" }, wid, stream, search, el("label", {}, pause, " pause"), stat), pre);
    card.querySelector(".wactions").before(btn);
    card.append(pane);

    let lines = [], pending = [], last = 0, skipped = 0, timer = null, busy = false, gen = 0;
    const fillWids = () => {
      const cur = wid.value, have = ["", ...wids().map(String)];
      if ([...wid.options].map((o) => o.value).join() === have.join()) return;
      wid.replaceChildren(...have.map((w) => el("option", { value: w, text: w ? "worker " + w : "all workers" })));
      wid.value = have.includes(cur) ? cur : "";
    };
    const matches = (r) => !search.value || plain(r.line).toLowerCase().includes(search.value.toLowerCase());
    const row = (r) => el("div", { class: "l l-" + r.stream, "data-seq": r.seq, "data-stream": r.stream },
      el("span", { class: "lw", text: r.wid + " " + r.stream.slice(3) }), " " + plain(r.line));
    const render = () => {
      pre.replaceChildren(...lines.filter(matches).slice(-SHOW).map(row));
      pre.scrollTop = pre.scrollHeight;
    };
    const append = (recs) => {
      lines.push(...recs);
      if (lines.length > KEEP) lines = lines.slice(-KEEP);
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      for (const r of recs) if (matches(r)) pre.append(row(r));
      while (pre.childElementCount > SHOW) pre.firstChild.remove();
      if (stick) pre.scrollTop = pre.scrollHeight;
    };
    const status = () => {
      const parts = [];
      if (pause.checked) parts.push("paused, " + pending.length + " new");
      if (skipped) parts.push(skipped + " lines skipped (the console shows at most " + (PER_POLL * 1000 / EVERY) + " a second)");
      stat.textContent = parts.join(" · ");
      stat.dataset.skipped = skipped;
      stat.dataset.pending = pending.length;
    };
    const poll = async () => {
      if (busy) return;
      busy = true;
      const g = gen, props = { name, lines: last ? PER_POLL : 200 };
      if (last) props.since = last;
      if (wid.value) props.wid = Number(wid.value);
      if (stream.value) props.stream = stream.value;
      const rep = await send("logs", props);
      busy = false;
      if (g !== gen || rep.status === "error") return;
      last = rep.last || last;
      skipped += rep.missed || 0;
      const recs = rep.lines || [];
      if (pause.checked) {
        pending.push(...recs);
        if (pending.length > KEEP) { skipped += pending.length - KEEP; pending = pending.slice(-KEEP); }
      } else if (recs.length) append(recs);
      status();
    };
    const restart = () => {
      gen++; lines = []; pending = []; last = 0; skipped = 0; busy = false;
      pre.replaceChildren(); status(); poll();
    };
    btn.addEventListener("click", () => {
      pane.hidden = !pane.hidden;
      btn.classList.toggle("on", !pane.hidden);
      clearInterval(timer);
      if (pane.hidden) return;
      fillWids(); restart();
      timer = setInterval(() => { fillWids(); poll(); }, EVERY);
    });
    wid.addEventListener("change", restart);
    stream.addEventListener("change", restart);
    search.addEventListener("input", render);
    pause.addEventListener("change", () => {
      if (!pause.checked && pending.length) { append(pending); pending = []; }
      status();
    });
    return {
      close: () => clearInterval(timer),
      isOpen: () => !pane.hidden,
      open: () => { if (pane.hidden) btn.click(); },
    };
  }
  return { attach };
})();
