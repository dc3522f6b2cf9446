package arbiter

import (
	"fmt"
	"strings"
	"time"

	"github.com/poold/poold/watcher"
)

// depends_on is systemd's Requires= plus After=: a watcher starts once
// what it depends on is up, and not at all if that is down. A group
// settled is not enough: a dependency whose only worker died on start is
// settled too, its slot waiting in backoff.

// depState is where a dependency stands for the watchers that need it.
type depState int

const (
	depPending depState = iota // starting, or every worker waits to be started again
	depUp                      // settled, with a ready worker (or none needed: on demand)
	depDown                    // stopped, stopping, or failed with no worker left
)

// stateOf tells where the dependency d stands.
func stateOf(d *watcher.Watcher) depState {
	switch d.Status() {
	case watcher.Stopped, watcher.Stopping:
		return depDown
	}
	if d.Settled() && (d.Target() == 0 || ready(d) > 0) {
		return depUp
	}
	if d.Status() == watcher.Failed && len(d.Pids()) == 0 {
		return depDown
	}
	return depPending
}

// ready counts d's ready workers.
func ready(d *watcher.Watcher) int {
	n := 0
	for _, p := range d.Processes() {
		if p.State == watcher.ProcReady {
			n++
		}
	}
	return n
}

// watchersByName maps lower-cased names to the watchers of ws.
func watchersByName(ws []*watcher.Watcher) map[string]*watcher.Watcher {
	m := make(map[string]*watcher.Watcher, len(ws))
	for _, w := range ws {
		m[strings.ToLower(w.Name())] = w
	}
	return m
}

// depsOf returns w's dependencies among in.
func depsOf(w *watcher.Watcher, in map[string]*watcher.Watcher) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, name := range w.Spec().DependsOn {
		if d, ok := in[strings.ToLower(name)]; ok {
			out = append(out, d)
		}
	}
	return out
}

// startGroups starts groups[0] once the dependencies of its watchers are
// up or down, skipping (NotStarted) those with one down; the next group
// follows once the started ones settled. While a dependency waits to
// start a worker again (backoff, a flapping pause) the loop looks again
// every settlePoll; a dependency that gives up is down.
func (a *Arbiter) startGroups(groups [][]*watcher.Watcher, in map[string]*watcher.Watcher, done func()) {
	if len(groups) == 0 || a.stopping {
		if done != nil {
			done()
		}
		return
	}
	for _, w := range groups[0] {
		for _, d := range depsOf(w, in) {
			if stateOf(d) == depPending {
				time.AfterFunc(settlePoll, func() {
					a.post(funcMsg{func() { a.startGroups(groups, in, done) }})
				})
				return
			}
		}
	}
	var started []*watcher.Watcher
	for _, w := range groups[0] {
		if down := a.downDeps(w, in); down != "" {
			w.NotStarted(fmt.Errorf("it depends on %s", down))
			continue
		}
		w.Start()
		started = append(started, w)
	}
	whenAllSettled(started, func() { a.startGroups(groups[1:], in, done) })
}

// downDeps words w's dependencies that are down, "" if none is.
func (a *Arbiter) downDeps(w *watcher.Watcher, in map[string]*watcher.Watcher) string {
	var parts []string
	for _, d := range depsOf(w, in) {
		if stateOf(d) != depDown {
			continue
		}
		why := string(d.Status())
		if r := d.Reason(); r != "" {
			why += ": " + r
		}
		parts = append(parts, fmt.Sprintf("watcher %q, which is %s", d.Name(), why))
	}
	return strings.Join(parts, "; and on ")
}
