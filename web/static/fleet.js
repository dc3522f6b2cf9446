// poold console: the fleet view. Other poold hosts, added by URL and
// token, shown side by side; poold itself watches them and pushes a
// "fleet" message whenever one changes. Tokens never come back here.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }

  function card(h, readOnly) {
    // A host that does not answer keeps its last rows, said to be that:
    // its watchers may be anything now.
    const stale = h.state !== "live";
    const seen = h.updated ? " at " + new Date(h.updated * 1000).toLocaleTimeString() : "";
    const rows = (h.watchers || []).map((w) => el("tr", { "data-watcher": w.name },
      el("td", { text: w.name }),
      el("td", { class: stale ? "st st-stale" : "st st-" + w.status, text: stale ? "was " + w.status : w.status }),
      el("td", { class: "r procs", text: String(w.procs) }),
      el("td", { class: "r", text: (w.cpu || 0).toFixed(1) + "%" })));
    const rm = readOnly ? null : el("button", { class: "btn sq danger", title: "stop watching this host", text: "×",
      onclick: async () => {
        const r = await window.pooldConsole.send("fleet_rm", { url: h.url });
        if (r.status === "error") window.pooldConsole.toast("fleet: remove " + h.host, false, r.reason || "failed");
      } });
    return el("article", { class: "fleethost fh-" + h.state, "data-host": h.host, "data-state": h.state },
      el("header", null, el("b", { text: h.host }), el("span", { class: "fstate", text: h.state }), rm),
      h.error ? el("p", { class: "ferr", text: h.error }) : null,
      stale && rows.length ? el("p", { class: "fstale", text: "as last seen" + seen }) : null,
      el("table", { class: "grid" },
        el("thead", null, el("tr", null, el("th", { text: "watcher" }), el("th", { text: "status" }),
          el("th", { class: "r", text: "procs" }), el("th", { class: "r", text: "cpu" }))),
        el("tbody", null, ...rows)));
  }

  function render(hosts, readOnly) {
    $("#fleetpanel").classList.toggle("has-hosts", hosts.length > 0);
    $("#fleet").replaceChildren(...hosts.map((h) => card(h, readOnly)));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("#fleetadd");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const btn = form.querySelector("button");
      btn.disabled = true;
      const r = await window.pooldConsole.send("fleet_add",
        { url: $("#fleeturl").value, token: $("#fleettoken").value, ca: $("#fleetca").value });
      btn.disabled = false;
      const url = $("#fleeturl").value.trim();
      if (r.status === "error") {
        // Said where the user looks, not only in a tooltip: the reason
        // names what to fix (the URL's scheme, the token, the CA).
        form.dataset.error = r.reason || "failed"; form.title = r.reason || "";
        window.pooldConsole.toast("fleet: add " + url, false, r.reason || "failed");
        return;
      }
      delete form.dataset.error; form.title = "";
      form.reset();
    });
  });

  window.pooldFleet = { render };
})();
