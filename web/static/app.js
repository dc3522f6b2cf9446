// poold console. Plain JS modules, no build step, no network access beyond
// this origin's websocket. The server pushes everything; only the log pane
// (logs.js) asks for new lines, twice a second while it is open.
//
// The modules: util.js (helpers, formatting), conn.js (websocket and
// model), cards.js (drawing, watcher cards), charts.js, panels.js
// (actions, side panels); this one starts them.

import { $, setText, fmtAge } from "./util.js";
import { st, serverNow, connect, watchdog, send } from "./conn.js";
import { fmtRetry } from "./cards.js";
import { confirmThen, doAction, toast, renderEvents } from "./panels.js";

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
