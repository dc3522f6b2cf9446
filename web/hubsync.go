package web

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
)

// A full refresh (the periodic resync, and the one after a console joins)
// used to broadcast the whole state to every console: 1.5 MB every 15 s
// per console at 2,000 workers, for nothing that changed. Now:
//
//   - each watcher's view carries a version, v: a digest of what a
//     refresh read of it, but for the samples the stats stream refreshes
//     every round anyway;
//   - a full refresh sends, in one "sync" message, only the watchers whose
//     version changed and the names of those gone, then every watcher's
//     version, the sockets, poold's row and the load error;
//   - a page that finds its versions differ from the sync's (it lost a
//     message, or applied one wrongly) asks for those watchers
//     (console_sync) and gets them in a sync of its own.
//
// A hello carries no CPU/RSS history: a page asks for the history of the
// cards it shows as they come into view (console_history), the last
// chartWindow seconds of each, rather than 600 points of every watcher
// (4 MB of a 5 MB hello at 200 watchers).

// chartWindow is the span of history a page's chart shows (util.js WINDOW).
const chartWindow = 300.0

// sampleFields are a process's fields the stats stream sends every round:
// a watcher's version leaves them out, or every refresh would change it.
var sampleFields = map[string]bool{"cpu": true, "mem_info1": true, "rss": true, "age": true, "proc_state": true, "children": true,
	"cgroup_memory": true, "cgroup_memory_peak": true}

// version digests w as a refresh read it. With no stats stream the
// samples count too: only a refresh brings them.
func (h *hub) version(w *watcherView) string {
	procs := w.Procs
	if h.s.opts.Stats != nil {
		procs = make(map[string]map[string]any, len(w.Procs))
		for pid, info := range w.Procs {
			p := make(map[string]any, len(info))
			for k, v := range info {
				if !sampleFields[k] {
					p[k] = v
				}
			}
			procs[pid] = p
		}
	}
	b, err := json.Marshal([]any{w.Name, w.Status, w.Reason, w.ReasonFine, w.Slots, w.Restarts, w.Bounds, w.Options, procs})
	if err != nil {
		return "" // never equal to a real digest: sent every time
	}
	d := fnv.New64a()
	d.Write(b)
	return strconv.FormatUint(d.Sum64(), 36)
}

// syncMessage is what a console checks its model against: the watchers
// given (changed, or asked for), the names of those removed, and every
// watcher's version.
func (h *hub) syncMessage(changed []*watcherView, removed []string) map[string]any {
	versions := make(map[string]string, len(h.state.Watchers))
	for _, w := range h.state.Watchers {
		versions[w.Name] = w.V
	}
	if changed == nil {
		changed = []*watcherView{}
	}
	if removed == nil {
		removed = []string{}
	}
	sockets := h.state.Sockets
	if sockets == nil {
		sockets = []map[string]any{}
	}
	return map[string]any{
		"type": "sync", "loaded": h.state.Loaded, "error": h.state.Error,
		"sockets": sockets, "poold": h.state.Poold,
		"watchers": changed, "removed": removed, "versions": versions,
	}
}

// applyFull takes a full refresh's state. The first one goes to the
// consoles whole; after that, only what differs, in one sync.
func (h *hub) applyFull(sv *stateView) {
	wasLoaded := h.state.Loaded
	old := make(map[string]*watcherView, len(h.byName))
	for name, w := range h.byName {
		old[name] = w
	}
	h.state = sv
	h.state.Watchers = h.hideRemoving(h.state.Watchers)
	clear(h.byName)
	clear(h.byTopic)
	var changed []*watcherView
	for _, w := range h.state.Watchers {
		h.dropReaped(w)
		w.V = h.version(w)
		if o := old[w.Name]; o == nil || o.V != w.V {
			changed = append(changed, w)
		}
		delete(old, w.Name)
		h.byName[w.Name] = w
		h.byTopic[events.TopicName(w.Name)] = w.Name
	}
	var removed []string
	for name := range old {
		removed = append(removed, name)
	}
	for name := range h.history {
		if h.byName[name] == nil {
			delete(h.history, name)
		}
	}
	if !wasLoaded {
		h.broadcast(map[string]any{"type": "state", "state": h.state})
		return
	}
	h.broadcastSync(changed, removed)
}

// broadcastSync sends a sync of changed and removed to the consoles whose
// page applies one: those that have asked for something (console_sync,
// console_history; a page asks as soon as its hello came). A page loaded
// from an older poold and left open across an upgrade to this one never
// asks, and ignores a sync: it gets the whole state, as it did then.
func (h *hub) broadcastSync(changed []*watcherView, removed []string) {
	var sync, state *websocket.PreparedMessage
	for c := range h.clients {
		pm := &sync
		if !c.asks {
			pm = &state
		}
		if *pm == nil {
			if c.asks {
				*pm = h.encode(h.syncMessage(changed, removed))
			} else {
				*pm = h.encode(map[string]any{"type": "state", "state": h.state})
			}
		}
		if *pm != nil {
			h.sendTo(c, *pm)
		}
	}
}

// ask is a console's request for watchers it found out of date, and for
// the history of the cards it shows.
type ask struct {
	c        *client
	watchers []string
	history  []string
	// view, with isView: the watchers whose cards the page shows now;
	// since (nil for a page that does not send it) is the time of the
	// last chart point the page has of each watcher it starts to show.
	view   []string
	isView bool
	since  map[string]float64
}

// askFor hands a console's request to the hub; false when the hub has
// ended.
func (h *hub) askFor(a ask) bool {
	select {
	case h.asks <- a:
		return true
	case <-h.done:
		return false
	}
}

// answer sends one console what it asked for, on the hub's goroutine.
func (h *hub) answer(a ask) {
	if _, ok := h.clients[a.c]; !ok {
		return
	}
	a.c.asks = true // its page applies syncs (broadcastSync)
	if a.isView {
		h.setView(a.c, a.view, a.since)
	}
	if len(a.watchers) > 0 {
		var views []*watcherView
		var gone []string
		for _, name := range a.watchers {
			if w := h.byName[name]; w != nil {
				views = append(views, w)
			} else {
				gone = append(gone, name)
			}
		}
		h.sendTo(a.c, h.syncMessage(views, gone))
	}
	if len(a.history) > 0 {
		hist := map[string][]point{}
		for _, name := range a.history {
			if pts, ok := h.history[name]; ok {
				hist[name] = lastSeconds(pts, chartWindow)
			}
		}
		h.sendTo(a.c, map[string]any{"type": "history", "history": hist})
	}
}

// lastSeconds is the tail of pts within span seconds of the last point.
func lastSeconds(pts []point, span float64) []point {
	if len(pts) == 0 {
		return pts
	}
	from := pts[len(pts)-1][0] - span
	i := len(pts)
	for i > 0 && pts[i-1][0] >= from {
		i--
	}
	return pts[i:]
}

// askNames reads a console request's list of watcher names: each once
// (a name given 8,000 times was answered with 8,000 copies of its
// watcher, a reply of hundreds of MB built on the hub's goroutine), at
// most max.
func askNames(v any, max int) []string {
	list, _ := v.([]any)
	var out []string
	seen := map[string]bool{}
	for _, x := range list {
		if s, ok := x.(string); ok && !seen[s] && len(out) < max {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// askSince reads console_view's since {name: time}: nil when the page
// sent none (a page of an earlier poold), else at most max entries.
func askSince(v any, max int) map[string]float64 {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]float64, min(len(m), max))
	for name, t := range m {
		if f, ok := t.(float64); ok && len(out) < max {
			out[name] = f
		}
	}
	return out
}

// consoleAsk reads a page's console_sync {names}, console_history
// {names} or console_view {names}: requests the hub answers from its
// model, never poold's.
func consoleAsk(req arbiter.Request, c *client) (ask, bool) {
	const most = 100000
	switch req.Command {
	case "console_sync":
		return ask{c: c, watchers: askNames(req.Properties["names"], most)}, true
	case "console_history":
		return ask{c: c, history: askNames(req.Properties["names"], most)}, true
	case "console_view":
		return ask{c: c, view: askNames(req.Properties["names"], most), isView: true, since: askSince(req.Properties["since"], most)}, true
	}
	return ask{}, false
}
