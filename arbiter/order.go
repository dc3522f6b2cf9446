package arbiter

import (
	"slices"
	"sort"
	"strings"

	"github.com/poold/poold/watcher"
)

// sorted returns the watchers that match keep, highest priority first,
// then by name.
func (a *Arbiter) sorted(keep func(*watcher.Watcher) bool) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, w := range a.watchers {
		if keep == nil || keep(w) {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := out[i].Spec().Priority, out[j].Spec().Priority
		if pi != pj {
			return pi > pj
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}

// orderGroups splits ws into the groups that start together: a watcher
// comes after every watcher it depends_on (within ws), and after higher
// priorities (a dependency's raised to its dependents', see
// effectivePriorities); stops run the groups in reverse.
func (a *Arbiter) orderGroups(ws []*watcher.Watcher) [][]*watcher.Watcher {
	in := watchersByName(ws)
	level := map[*watcher.Watcher]int{}
	var depth func(w *watcher.Watcher, seen map[*watcher.Watcher]bool) int
	depth = func(w *watcher.Watcher, seen map[*watcher.Watcher]bool) int {
		if l, ok := level[w]; ok {
			return l
		}
		if seen[w] { // a cycle: the config loader refuses them; do not loop
			return 0
		}
		seen[w] = true
		l := 0
		for _, d := range w.Spec().DependsOn {
			if dw, ok := in[strings.ToLower(d)]; ok {
				l = max(l, depth(dw, seen)+1)
			}
		}
		level[w] = l
		return l
	}
	for _, w := range ws {
		depth(w, map[*watcher.Watcher]bool{})
	}
	eff := effectivePriorities(ws, in)
	sorted := append([]*watcher.Watcher(nil), ws...)
	sort.SliceStable(sorted, func(i, j int) bool {
		wi, wj := sorted[i], sorted[j]
		if eff[wi] != eff[wj] {
			return eff[wi] > eff[wj]
		}
		if level[wi] != level[wj] {
			return level[wi] < level[wj]
		}
		if wi.Spec().Priority != wj.Spec().Priority {
			return wi.Spec().Priority > wj.Spec().Priority
		}
		return wi.Name() < wj.Name()
	})
	var groups [][]*watcher.Watcher
	for i, w := range sorted {
		if i == 0 || eff[w] != eff[sorted[i-1]] || level[w] != level[sorted[i-1]] || w.Spec().Priority != sorted[i-1].Spec().Priority {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], w)
	}
	return groups
}

// effectivePriorities gives each watcher of ws (in: ws by lower-case
// name) the highest priority among itself and the watchers of ws that
// depend on it, directly or not: a dependency starts as early as what
// needs it asks, so that a watcher of higher priority is not started
// after one of lower priority only because its dependency has a low one.
// A dependency's effective priority is never below its dependent's, and
// orderGroups puts a dependency first among equals (its level is lower),
// so the order keeps every depends_on.
func effectivePriorities(ws []*watcher.Watcher, in map[string]*watcher.Watcher) map[*watcher.Watcher]int {
	eff := make(map[*watcher.Watcher]int, len(ws))
	for _, w := range ws {
		eff[w] = w.Spec().Priority
	}
	var raise func(w *watcher.Watcher, p int)
	raise = func(w *watcher.Watcher, p int) {
		for _, d := range w.Spec().DependsOn {
			// Only up, so a cycle (refused by the loader) ends too.
			if dw, ok := in[strings.ToLower(d)]; ok && eff[dw] < p {
				eff[dw] = p
				raise(dw, p)
			}
		}
	}
	for _, w := range ws {
		raise(w, eff[w])
	}
	return eff
}

// startInOrder starts ws band by band (highest effective priority
// first), each band once the one before has settled, that is once its
// workers are ready; in a band, each watcher once its dependencies are
// up; then calls done. A watcher whose dependency (in ws)
// is down is not started (see startGroups).
func (a *Arbiter) startInOrder(ws []*watcher.Watcher, done func()) {
	for _, w := range ws {
		w.NotStarted(nil) // this start's own outcome replaces the last one's
	}
	a.startGroups(bands(a.orderGroups(ws), effectivePriorities(ws, watchersByName(ws))), done)
}

// bands merges the consecutive groups of one effective priority: within
// a band only depends_on orders the starts (a watcher waits for its own
// dependencies, not for those of the others), between bands priority
// does (a band starts once the one before has settled).
func bands(groups [][]*watcher.Watcher, eff map[*watcher.Watcher]int) [][]*watcher.Watcher {
	var out [][]*watcher.Watcher
	for i, g := range groups {
		if i > 0 && eff[g[0]] == eff[groups[i-1][0]] {
			out[len(out)-1] = append(out[len(out)-1], g...)
			continue
		}
		out = append(out, append([]*watcher.Watcher(nil), g...))
	}
	return out
}

// stopInOrder stops ws in the reverse of the start order, and cancels
// their starts still waiting for a dependency.
func (a *Arbiter) stopInOrder(ws []*watcher.Watcher, done func()) {
	a.cancelStarts(ws)
	a.cancelRestarts(ws)
	groups := a.orderGroups(ws)
	for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
		groups[i], groups[j] = groups[j], groups[i]
	}
	a.inOrder(groups, (*watcher.Watcher).Stop, done)
}

// inOrder stops groups one after another, then calls done once every
// watcher of them has settled (after_stop hooks included). A group goes
// on once the one before has no workers left, and, for a watcher that
// depends on one of the groups to come, its after_stop has ended too (as
// systemd's ExecStopPost= before the stop of what a unit needs): a
// slow after_stop holds what it needs, not every lower priority.
func (a *Arbiter) inOrder(groups [][]*watcher.Watcher, act func(*watcher.Watcher), done func()) {
	var all []*watcher.Watcher
	for _, g := range groups {
		all = append(all, g...)
	}
	a.inOrderStep(groups, act, func() {
		whenAllSettled(all, func() {
			if done != nil {
				done()
			}
		})
	})
}

func (a *Arbiter) inOrderStep(groups [][]*watcher.Watcher, act func(*watcher.Watcher), done func()) {
	if len(groups) == 0 {
		done()
		return
	}
	for _, w := range groups[0] {
		act(w)
	}
	rest := groups[1:]
	left := len(groups[0])
	next := func() {
		left--
		if left == 0 {
			a.inOrderStep(rest, act, done)
		}
	}
	if left == 0 {
		a.inOrderStep(rest, act, done)
		return
	}
	for _, w := range groups[0] {
		if a.needsBefore(w, rest) {
			w.WhenSettled(next)
		} else {
			w.WhenWorkersGone(next)
		}
	}
}

// needsBefore reports whether w depends on a watcher of groups.
func (a *Arbiter) needsBefore(w *watcher.Watcher, groups [][]*watcher.Watcher) bool {
	for _, d := range a.dependencies(w) {
		for _, g := range groups {
			if slices.Contains(g, d) {
				return true
			}
		}
	}
	return false
}

// whenAllSettled calls fn once every watcher in ws has settled.
func whenAllSettled(ws []*watcher.Watcher, fn func()) {
	left := len(ws)
	if left == 0 {
		fn()
		return
	}
	for _, w := range ws {
		w.WhenSettled(func() {
			left--
			if left == 0 {
				fn()
			}
		})
	}
}

// closure returns ws plus every watcher reachable from them through next
// (transitively), sorted like sorted().
func (a *Arbiter) closure(ws []*watcher.Watcher, next func(*watcher.Watcher) []*watcher.Watcher) []*watcher.Watcher {
	in := map[*watcher.Watcher]bool{}
	var visit func(w *watcher.Watcher)
	visit = func(w *watcher.Watcher) {
		if in[w] {
			return
		}
		in[w] = true
		for _, n := range next(w) {
			visit(n)
		}
	}
	for _, w := range ws {
		visit(w)
	}
	return a.sorted(func(w *watcher.Watcher) bool { return in[w] })
}

// dependencies are the watchers w depends_on that exist.
func (a *Arbiter) dependencies(w *watcher.Watcher) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, d := range w.Spec().DependsOn {
		if dw, ok := a.watchers[strings.ToLower(d)]; ok {
			out = append(out, dw)
		}
	}
	return out
}

// dependents are the watchers that depend_on w.
func (a *Arbiter) dependents(w *watcher.Watcher) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, o := range a.watchers {
		for _, d := range o.Spec().DependsOn {
			if strings.EqualFold(d, w.Name()) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// withDeps is ws and everything they need (systemd's Requires+After):
// starting a watcher starts its dependencies first.
func (a *Arbiter) withDeps(ws []*watcher.Watcher) []*watcher.Watcher {
	return a.closure(ws, a.dependencies)
}

// withDependents is ws and everything that needs them: stopping a watcher
// stops its dependents first.
func (a *Arbiter) withDependents(ws []*watcher.Watcher) []*watcher.Watcher {
	return a.closure(ws, a.dependents)
}

// noteDependents logs each watcher of all, not among named and not
// stopped, that a stop or restart (cmd) of named stops first because it
// depends on one of them: the stop of a dependant (a before_start hook
// killed, its workers signalled) names its cause.
func (a *Arbiter) noteDependents(cmd string, named, all []*watcher.Watcher) {
	for _, w := range all {
		if slices.Contains(named, w) || w.Status() == watcher.Stopped {
			continue
		}
		var on []string
		for _, d := range a.dependencies(w) {
			if slices.Contains(all, d) {
				on = append(on, d.Name())
			}
		}
		a.log.Info("stopping it first: it depends on a watcher being stopped ("+cmd+")", "watcher", w.Name(), "depends_on", strings.Join(on, ", "))
	}
}
