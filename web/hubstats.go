package web

import (
	"strings"
	"time"

	"github.com/poold/poold/events"
)

// statsBatch is one batch of stat.* samples sorted out: per watcher the
// processes sampled, poold's own row and the sockets' rows.
type statsBatch struct {
	last    time.Time // time of the newest sample
	procs   map[string]map[string]map[string]any
	poold   map[string]any
	sockets []map[string]any
}

// flushStats applies one batch of samples to the model, appends a history
// point per watcher and sends the batch to the consoles (hubview.go).
func (h *hub) flushStats() {
	batch := h.statBuf
	h.statBuf = nil
	if len(batch) == 0 {
		return
	}
	b := statsBatch{procs: map[string]map[string]map[string]any{}}
	for _, ev := range batch {
		h.sortSample(&b, ev)
	}
	if b.poold != nil {
		h.state.Poold = b.poold
	}
	t := unixSeconds(b.last)
	points := h.recordHistory(t, b.procs)
	h.forgetReaped(b.last)
	msg := map[string]any{"type": "stats", "time": t, "procs": b.procs, "points": points}
	if b.poold != nil {
		msg["poold"] = b.poold
	}
	if b.sockets != nil {
		msg["sockets"] = b.sockets
	}
	if len(h.clients) == 0 {
		return
	}
	r, err := newStatsRound(msg, b.procs, points)
	if err != nil {
		// The model holds JSON-native values only.
		h.log.Error("console message does not encode", "error", err)
		return
	}
	h.broadcastStats(r)
}

// sortSample puts one stat.* event into b and the model: a process the
// model lists, poold's row or a socket's row; anything else (a process or
// watcher a refresh or spawn event has not brought yet, one that exited,
// an aggregate) is skipped.
func (h *hub) sortSample(b *statsBatch, ev events.Event) {
	if ev.Time.After(b.last) {
		b.last = ev.Time
	}
	rest, ok := strings.CutPrefix(ev.Topic, "stat.")
	if !ok {
		return
	}
	first, pid, hasPid := strings.Cut(rest, ".")
	name := ev.Watcher
	if name == "" {
		name = first
	}
	name = h.watcherFor(name)
	w := h.byName[name]
	switch {
	case w == nil && first == "poold" && hasPid:
		b.poold, _ = plain(ev.Fields)
		return
	case w == nil && first == "sockets" && hasPid:
		if m, _ := plain(ev.Fields); m != nil {
			b.sockets = append(b.sockets, m)
		}
		return
	case w == nil || !hasPid:
		return
	}
	if _, known := w.Procs[pid]; !known {
		// Sampled before its exit reached us, or before an exit the
		// bus dropped in a burst: only a refresh or a spawn event adds
		// a process; a sample only updates one.
		return
	}
	if ev.Fields == nil {
		return
	}
	// Only what the page uses is copied: the model keeps no more.
	info, _ := plain(pageProc(ev.Fields))
	if info == nil {
		return
	}
	w.Procs[pid] = info
	if b.procs[name] == nil {
		b.procs[name] = map[string]map[string]any{}
	}
	b.procs[name][pid] = info
}

// recordHistory appends, at time t, a CPU/RSS point for every watcher
// sampled in this batch, keeping at most historyLen points each, and
// returns the new points. A point counts each worker's whole process tree:
// a gunicorn master or an `sh -c` wrapper does little itself, its children
// do the work.
func (h *hub) recordHistory(t float64, procs map[string]map[string]map[string]any) map[string]point {
	points := map[string]point{}
	for name := range procs {
		p := point{t, 0, 0}
		for _, info := range h.byName[name].Procs {
			cpu, rss := treeUsage(info)
			p[1] += cpu
			p[2] += rss
		}
		p = roundPoint(p)
		hist := append(h.history[name], p)
		if n := len(hist) - h.t.historyLen; n > 0 {
			hist = append(hist[:0:0], hist[n:]...)
		}
		h.history[name] = hist
		points[name] = p
	}
	return points
}

// reapedFor is how long a reaped pid stays hidden from replies and
// samples that still list it.
const reapedFor = time.Minute

// forgetReaped drops the pids reaped more than reapedFor before now. A
// stats round calls it, and so does an exit once the set has doubled since
// it was last pruned: stats flow only while someone watches, and the set
// must not grow with every exit of a poold nobody watches.
func (h *hub) forgetReaped(now time.Time) {
	for pid, at := range h.reaped {
		if now.Sub(at) > reapedFor {
			delete(h.reaped, pid)
		}
	}
	h.pruneReapedAt = max(2*len(h.reaped), 64)
}
