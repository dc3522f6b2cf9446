package arbiter

import (
	"slices"
	"strings"

	"github.com/poold/poold/watcher"
)

// unservedBy lists the sockets of w that a decr which took w's target
// from old to 0 left with no worker to accept on them: connections then
// wait in their backlogs, unanswered, which neither circusd nor the
// client says. None for a stopped watcher (its sockets were unserved
// before), an on_demand pool (a connection starts a worker), or a socket
// that another running watcher with workers serves too.
func (a *Arbiter) unservedBy(w *watcher.Watcher, old int) []string {
	if old == 0 || w.Target() != 0 || w.Spec().OnDemand || w.Status() == watcher.Stopped {
		return nil
	}
	var out []string
	for _, name := range w.Spec().SocketNames(a.cfg.Sockets) {
		if !a.servedByOther(w, name) {
			out = append(out, name)
		}
	}
	return out
}

// servedByOther tells whether a watcher other than w, running with
// workers (or one a connection starts), inherits socket name.
func (a *Arbiter) servedByOther(w *watcher.Watcher, name string) bool {
	for _, o := range a.watchers {
		if o == w || o.Status() == watcher.Stopped || (o.Target() == 0 && !o.Spec().OnDemand) {
			continue
		}
		if slices.ContainsFunc(o.Spec().SocketNames(a.cfg.Sockets), func(n string) bool { return strings.EqualFold(n, name) }) {
			return true
		}
	}
	return false
}

// warnUnserved logs each socket of unserved (see unservedBy) that the
// decr of w left with no worker.
func (a *Arbiter) warnUnserved(w *watcher.Watcher, unserved []string) {
	for _, name := range unserved {
		a.log.Warn("decr left a socket served by no worker: connections wait in its backlog until one starts (poolctl incr)",
			"socket", name, "watcher", w.Name())
	}
}
