package arbiter

import (
	"sort"

	"github.com/poold/poold/watcher"
)

// The "info" of a waited lifecycle command's reply, as circusd's: the
// pids it started, stopped and kept.

// pidDiff reports, for waiting start/stop/restart of one watcher, which
// pids were started, stopped and kept. A one-shot's worker that ended
// meanwhile was started too (circusd lists it): its slot's last pid
// (watcher.EndedPids) counts.
func pidDiff(w *watcher.Watcher) func() map[string]any {
	before := map[int]bool{}
	for _, pid := range w.Pids() {
		before[pid] = true
	}
	ended := map[int]bool{}
	for _, pid := range w.EndedPids() {
		ended[pid] = true
	}
	return func() map[string]any {
		started, stopped, kept := []int{}, []int{}, []int{}
		after := map[int]bool{}
		for _, pid := range w.Pids() {
			after[pid] = true
			if before[pid] {
				kept = append(kept, pid)
			} else {
				started = append(started, pid)
			}
		}
		for pid := range before {
			if !after[pid] {
				stopped = append(stopped, pid)
			}
		}
		for _, pid := range w.EndedPids() {
			if !ended[pid] && !before[pid] && !after[pid] {
				started = append(started, pid)
			}
		}
		sort.Ints(started)
		sort.Ints(stopped)
		return map[string]any{"info": map[string]any{"started": started, "stopped": stopped, "kept": kept}}
	}
}

// infoOf is the "info" a waited command on one named watcher answers
// with, as circusd's: the pids it started, stopped and kept; nil for
// several watchers or none named.
func infoOf(m *cmdMsg, ws []*watcher.Watcher) func() map[string]any {
	if len(ws) == 1 && m.props().has("name") {
		return pidDiff(ws[0])
	}
	return func() map[string]any { return nil }
}

// withStartedStopped adds to the reply fields the names of the watchers
// in started, which a reload of every watcher started from stopped
// (started_stopped, sorted).
func withStartedStopped(fields func() map[string]any, started []*watcher.Watcher) func() map[string]any {
	names := make([]string, 0, len(started))
	for _, w := range started {
		names = append(names, w.Name())
	}
	sort.Strings(names)
	return func() map[string]any {
		r := fields()
		if r == nil {
			r = map[string]any{}
		}
		r["started_stopped"] = names
		return r
	}
}
