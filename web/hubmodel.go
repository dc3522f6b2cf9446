package web

import (
	"sort"
	"strings"

	"github.com/poold/poold/events"
)

// applyRefresh puts what the refresher read into the model and tells the
// consoles what changed; a failed read shows as the state's error.
func (h *hub) applyRefresh(r refreshResult) {
	if r.err != nil {
		switch {
		case notRun(r.err): // poold upgrading in place: the next refresh is its new image's
			h.log.Debug("console refresh not run", "error", r.err)
		case h.backendStopped(): // poold shutting down: no warning at every stop
			h.log.Debug("console refresh after poold stopped", "error", r.err)
		case h.state.Error == "":
			h.log.Warn("console refresh failed", "error", r.err)
		}
		msg := "cannot read poold's state: " + r.err.Error()
		if h.state.Error != msg {
			h.state.Error = msg
			h.broadcastSync(nil, nil)
		}
		return
	}
	if r.job.all {
		r.state.Error = ""
		h.applyFull(r.state)
		return
	}
	if h.state.Error != "" {
		h.state.Error = ""
		h.broadcastSync(nil, nil)
	}
	for _, name := range r.job.names {
		w := r.watchers[name]
		switch {
		case w == nil:
			delete(h.removing, name)
		case h.removing[name]:
			w = nil // still stopping after its remove event
		}
		old := h.byName[name]
		switch {
		case w == nil && old == nil:
			continue
		case w == nil:
			delete(h.byName, name)
			delete(h.byTopic, events.TopicName(name))
			delete(h.history, name)
			h.rebuildList()
			h.broadcast(map[string]any{"type": "watcher", "name": name, "removed": true})
			continue
		case old == nil:
			h.byName[name] = w
			h.byTopic[events.TopicName(name)] = name
			h.rebuildList()
		default:
			// Keep the live samples of processes the refresh saw too:
			// stats replies and stats events carry the same fields.
			*old = *w
			w = old
		}
		h.dropReaped(w)
		w.V = h.version(w)
		h.broadcast(map[string]any{"type": "watcher", "watcher": w})
	}
}

func (h *hub) rebuildList() {
	h.state.Watchers = h.state.Watchers[:0]
	for _, w := range h.byName {
		h.state.Watchers = append(h.state.Watchers, w)
	}
	sort.Slice(h.state.Watchers, func(i, j int) bool { return h.state.Watchers[i].Name < h.state.Watchers[j].Name })
}

// dropReaped removes processes the model has seen reaped but a slower
// reply still lists.
func (h *hub) dropReaped(w *watcherView) {
	for pid := range w.Procs {
		if _, ok := h.reaped[pid]; ok {
			delete(w.Procs, pid)
		}
	}
}

// watcherFor maps an event's watcher (name as configured or topic form) to
// the model's name.
func (h *hub) watcherFor(name string) string {
	if _, ok := h.byName[name]; ok {
		return name
	}
	if n, ok := h.byTopic[events.TopicName(name)]; ok {
		return n
	}
	return name
}

// hideRemoving drops from a full refresh the watchers that are stopping
// after their remove event, and forgets those it no longer lists.
func (h *hub) hideRemoving(ws []*watcherView) []*watcherView {
	if len(h.removing) == 0 {
		return ws
	}
	listed := map[string]bool{}
	out := ws[:0:0]
	for _, w := range ws {
		listed[w.Name] = true
		if !h.removing[w.Name] {
			out = append(out, w)
		}
	}
	for name := range h.removing {
		if !listed[name] {
			delete(h.removing, name)
		}
	}
	return out
}

// wire turns an event into what the page receives.
func (h *hub) wire(ev events.Event) wireEvent {
	we := wireEvent{Seq: ev.Seq, Time: unixSeconds(ev.Time), Topic: ev.Topic, Kind: ev.Kind}
	if we.Fields, _ = plain(ev.Fields); we.Fields == nil && len(ev.Fields) > 0 {
		we.Fields = map[string]any{"error": "payload is not JSON"}
	}
	name := ev.Watcher
	if name == "" && strings.HasPrefix(ev.Topic, "watcher.") {
		if parts := strings.SplitN(ev.Topic, ".", 3); len(parts) == 3 {
			name = parts[1]
		}
	}
	if name != "" {
		name = h.watcherFor(name)
	}
	we.Watcher = name
	return we
}

func (h *hub) applyEvent(ev events.Event) {
	we := h.wire(ev)
	name := we.Watcher
	if h.lastSeq != 0 && ev.Seq > h.lastSeq+1 {
		// The bus dropped events for us: the model may be stale.
		h.dirtyAll = true
	}
	h.lastSeq = ev.Seq
	h.pending = append(h.pending, we)
	h.recent = append(h.recent, we)
	if n := len(h.recent) - h.t.recentEvents; n > 0 {
		h.recent = append(h.recent[:0:0], h.recent[n:]...)
	}

	w := h.byName[name]
	switch ev.Kind {
	case events.KindRemove:
		h.removing[name] = true
	case events.KindAdd:
		delete(h.removing, name)
	}
	switch {
	case name == "" || ev.Kind == events.KindAdd || ev.Kind == events.KindRemove:
		h.dirtyAll = true
		return
	case w == nil:
		h.dirty[name] = true
		return
	}
	h.dirty[name] = true
	pid := pidKey(we.Fields["process_pid"])
	switch ev.Kind {
	case events.KindSpawn:
		if pid != "" {
			if w.Procs == nil {
				w.Procs = map[string]map[string]any{}
			}
			if _, ok := w.Procs[pid]; !ok {
				w.Procs[pid] = map[string]any{"pid": toFloat(we.Fields["process_pid"]), "wid": we.Fields["process_id"], "state": "spawned", "started": we.Time, "age": 0.0}
			}
		}
	case events.KindExit: // every exit; reap only where circusd has one
		if pid != "" {
			delete(w.Procs, pid)
			h.reaped[pid] = ev.Time
			if len(h.reaped) >= h.pruneReapedAt {
				h.forgetReaped(ev.Time)
			}
		}
	}
}

// backendStopped says that the backend has stopped answering for good:
// poold is shutting down.
func (h *hub) backendStopped() bool {
	st, ok := h.s.opts.Backend.(stopper)
	if !ok {
		return false
	}
	select {
	case <-st.Stopped():
		return true
	default:
		return false
	}
}
