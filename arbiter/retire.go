package arbiter

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// retire stops ws, which leave poold (rm, or a reload that removed them),
// in the reverse of the start order, forgets each one once all have
// stopped, then calls done (if not nil). Until then they are listed,
// stopping, and marked leaving. A reload that defines one again before it
// is forgotten takes it back (restore): it is then neither stopped, if its
// turn had not come, nor forgotten, whatever order the stops end in.
func (a *Arbiter) retire(ws []*watcher.Watcher, done func()) {
	for _, w := range ws {
		a.leaving[w] = true
	}
	// A start waiting for a dependency ends now, as for rm, rather than
	// once the dependency settles (which may be never).
	a.cancelStarts(ws)
	a.cancelRestarts(ws)
	groups := a.orderGroups(ws)
	slices.Reverse(groups)
	stop := func(w *watcher.Watcher) {
		if a.leaving[w] {
			w.Stop()
		}
	}
	a.inOrder(groups, stop, func() {
		for _, w := range ws {
			if a.leaving[w] {
				a.forget(w)
			}
		}
		if done != nil {
			done()
		}
	})
}

// restore takes back w, a leaving watcher whose name a reload's file
// defines again, as that reload adds a watcher: it gets the file's section
// (spec), an add event, and a start if autostart (after its stop ends, if
// that began); it is stopped otherwise. It returns whether to start it.
//
// Its events are those of a watcher the reload adds: add, then the end of
// the old stop (reap..., stop) and the start (spawn..., start). The update
// of its spec publishes no updated event (see quiet): subscribers were told
// it was removed, and add tells them it is back, with options to read
// afresh. circusd's reloadconfig, too, publishes no updated for a watcher
// it removes and adds again: stop, then spawn... and start.
func (a *Arbiter) restore(w *watcher.Watcher, spec configs.Watcher, socks watcher.Sockets) (bool, error) {
	if err := w.Update(spec, socks); err != nil { // while leaving: quiet
		return false, err
	}
	delete(a.leaving, w)
	a.bus.Publish(w.Name(), events.KindAdd, nil)
	if !spec.Autostart {
		w.Stop()
	}
	return spec.Autostart, nil
}

// quiet tells whether an event a watcher publishes is no news to
// subscribers: the updated event of a leaving watcher, which only a
// restore updates (set and reloadconfig leave it alone until then).
func (a *Arbiter) quiet(name string, kind events.Kind) bool {
	return kind == events.KindUpdated && a.leaving[a.watchers[strings.ToLower(name)]]
}

// staying are the watchers that are not leaving, as specs by lower-case
// name: what a reload compares its file with.
func (a *Arbiter) staying() map[string]configs.Watcher {
	out := make(map[string]configs.Watcher, len(a.watchers))
	for key, w := range a.watchers {
		if !a.leaving[w] {
			out[key] = w.Spec().Clone()
		}
	}
	return out
}

// present is the set of watchers not on their way out.
func (a *Arbiter) present() map[*watcher.Watcher]bool {
	out := make(map[*watcher.Watcher]bool, len(a.watchers))
	for _, w := range a.watchers {
		if !a.leaving[w] {
			out[w] = true
		}
	}
	return out
}

// stillLeaving lists the watchers on their way out.
func (a *Arbiter) stillLeaving() []*watcher.Watcher {
	out := make([]*watcher.Watcher, 0, len(a.leaving))
	for w := range a.leaving {
		out = append(out, w)
	}
	return out
}

// revives are the commands that start workers of the watchers they name.
var revives = map[string]bool{"start": true, "restart": true, "reload": true, "incr": true, "decr": true, "set": true, "reset": true}

// notLeaving refuses cmd, which would start workers of w, when w is on its
// way out: rm (or a reload) would forget it once its old workers end,
// and workers started meanwhile would run on with no watcher.
func (a *Arbiter) notLeaving(w *watcher.Watcher, cmd string) error {
	if !revives[cmd] || !a.leaving[w] {
		return nil
	}
	return errorf(ErrnoBadProperty, "%s: watcher %s is being removed (by rm or a config reload) and its workers are stopping; "+
		"once it is gone (`poolctl list`), add it again, or reloadconfig a file that defines it to keep it", cmd, w.Name())
}

func cmdRm(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	nostop, err := m.props().boolean("nostop", false)
	if err != nil {
		return err
	}
	if err := a.stillNeeded(w); err != nil {
		return err
	}
	if nostop && a.leaving[w] {
		// Its workers were told to stop already: nostop cannot keep
		// them running, and letting go of the watcher would cut the
		// removal under way short (its waited rm or reloadconfig).
		return errorf(ErrnoFailed, "rm: watcher %q is already being removed (by rm or a config reload) and its workers are stopping, so nostop cannot keep them; "+
			"wait until it is gone (`poolctl list`; `poolctl rm --waiting %s` returns then)", w.Name(), w.Name())
	}
	a.cancelStarts([]*watcher.Watcher{w})
	a.cancelRestarts([]*watcher.Watcher{w})
	a.announceRemove(w)
	if nostop {
		// The workers live on unmanaged; poold stops them when it
		// stops (unmanaged.go).
		a.letGo(w)
		m.ok(nil)
		return nil
	}
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	// Stopped, then forgotten, unless a reload defines it again meanwhile.
	a.retire([]*watcher.Watcher{w}, func() {
		switch {
		case !wait:
		case a.watchers[strings.ToLower(w.Name())] == w:
			// A reload took it back (restore): it was not removed.
			m.fail(errorf(ErrnoAsync, "rm: watcher %q was not removed: a config reload that came in before its stop was done defines it again, so it stays; take it out of the config file too, then rm it again", w.Name()))
		default:
			m.ok(nil)
		}
	})
	if !wait {
		m.ok(nil)
	}
	return nil
}

// stillNeeded refuses to remove w while other watchers depend on it: they
// would be left with a depends_on naming nothing, which every later set
// or add on them refuses (a config file could not say it either).
func (a *Arbiter) stillNeeded(w *watcher.Watcher) error {
	var names []string
	for _, d := range a.dependents(w) {
		if d != w {
			names = append(names, fmt.Sprintf("%q", d.Name()))
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	who := "watcher " + names[0] + " depends"
	if len(names) > 1 {
		who = "watchers " + strings.Join(names, ", ") + " depend"
	}
	return errorf(ErrnoBadProperty, "rm: %s on %q through depends_on; remove them first, or drop %q from their depends_on (set NAME depends_on '[...]')",
		who, w.Name(), w.Name())
}
