package arbiter

import (
	"slices"
	"strings"

	"github.com/poold/poold/watcher"
)

// unservedBy lists the sockets of w that a decr (or a set of
// numprocesses) which took w's target from old to 0 left with no worker
// to accept on them: connections then wait in their backlogs,
// unanswered, which neither circusd nor the client says. None for a
// stopped watcher (its sockets were unserved before), an on_demand pool
// (a connection starts a worker), or a socket that another running
// watcher with workers serves too.
func (a *Arbiter) unservedBy(w *watcher.Watcher, old int) []string {
	if old == 0 || w.Target() != 0 || w.Spec().OnDemand || w.Status() == watcher.Stopped {
		return nil
	}
	return a.unservedWithout([]*watcher.Watcher{w})
}

// unservedByStop lists the sockets that a stop of ws (the named watchers
// and the dependents that stop with them) leaves with no worker: those
// of a watcher in ws that serves now, that no running watcher outside ws
// serves. poold keeps a stopped watcher's sockets bound, as circusd
// does, so the kernel still completes connections into their backlogs.
func (a *Arbiter) unservedByStop(ws []*watcher.Watcher) []string {
	var serving []*watcher.Watcher
	for _, w := range ws {
		if serves(w) {
			serving = append(serving, w)
		}
	}
	if len(serving) == 0 {
		return nil
	}
	out := a.unservedWithout(ws)
	// Only sockets a serving watcher of ws had: one of a watcher already
	// at 0 was unserved before.
	return slices.DeleteFunc(out, func(name string) bool {
		return !slices.ContainsFunc(serving, func(w *watcher.Watcher) bool { return a.inherits(w, name) })
	})
}

// unservedWithout lists, sorted and once each, the sockets of ws that no
// watcher outside ws serves.
func (a *Arbiter) unservedWithout(ws []*watcher.Watcher) []string {
	var out []string
	for _, w := range ws {
		for _, name := range w.Spec().SocketNames(a.cfg.Sockets) {
			if !slices.Contains(out, name) && !a.servedOutside(ws, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// serves tells whether w runs with workers, or with none but one that a
// connection starts. One stopping does not: its workers are on their way
// out (a stop of api, then of web at once, leaves their socket to none).
func serves(w *watcher.Watcher) bool {
	st := w.Status()
	return (st == watcher.Active || st == watcher.Starting) && (w.Target() > 0 || w.Spec().OnDemand)
}

// inherits tells whether w's workers inherit socket name.
func (a *Arbiter) inherits(w *watcher.Watcher, name string) bool {
	return slices.ContainsFunc(w.Spec().SocketNames(a.cfg.Sockets), func(n string) bool { return strings.EqualFold(n, name) })
}

// servedOutside tells whether a watcher not in ws, running with workers
// (or one a connection starts), inherits socket name.
func (a *Arbiter) servedOutside(ws []*watcher.Watcher, name string) bool {
	for _, o := range a.watchers {
		if !slices.Contains(ws, o) && serves(o) && a.inherits(o, name) {
			return true
		}
	}
	return false
}

// warnUnserved logs each socket of unserved (see unservedBy and
// unservedByStop) that command (decr, set or stop) of ws left with no
// worker, and what starts one again.
func (a *Arbiter) warnUnserved(command string, ws []*watcher.Watcher, unserved []string) {
	for _, name := range unserved {
		var names []string
		for _, w := range ws {
			if a.inherits(w, name) {
				names = append(names, w.Name())
			}
		}
		watchers := strings.Join(names, ",")
		switch command {
		case "stop":
			a.log.Warn("stop left a socket served by no worker: connections wait in its backlog until a watcher that uses it starts (poolctl start)",
				"socket", name, "watcher", watchers)
		case "set":
			a.log.Warn("set numprocesses 0 left a socket served by no worker: connections wait in its backlog until one starts (poolctl incr)",
				"socket", name, "watcher", watchers)
		default:
			a.log.Warn("decr left a socket served by no worker: connections wait in its backlog until one starts (poolctl incr)",
				"socket", name, "watcher", watchers)
		}
	}
}

// withUnserved adds to the reply fields the sockets a command left with
// no worker (unserved_sockets, for poolctl to warn of), when there are.
func withUnserved(fields func() map[string]any, unserved []string) func() map[string]any {
	if len(unserved) == 0 {
		return fields
	}
	return func() map[string]any {
		r := fields()
		if r == nil {
			r = map[string]any{}
		}
		r["unserved_sockets"] = unserved
		return r
	}
}
