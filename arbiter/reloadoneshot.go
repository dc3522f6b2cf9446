package arbiter

import (
	"fmt"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// A one-shot (a migration, respawn = false) that ran and ended is
// stopped: Update only records a change of it, as for any stopped
// watcher. circusd re-creates a changed watcher and starts it, so a
// deploy that bumps the migration and the app in one edit ran the
// migration again. A config reload does so too: a changed one-shot that
// ran out (watcher.RanOut) and starts with poold (autostart) runs again,
// after what it depends on, as a watcher the reload adds. A watcher the
// same reload changes that depends on it (directly or through others)
// keeps its old spec and workers until the one-shot has run: its rolling
// replacement then begins if the one-shot ended as configured, and is
// not made if it failed; the reply says why under rolled_back, and
// comes once the one-shots have ended.

// oneShotReruns sorts updates: reruns are the changed one-shots that ran
// out and run again, held the updates of watchers that depend on one of
// them, which wait for its run (updateHeld). Call it before any update.
func (a *Arbiter) oneShotReruns(updates []update) (reruns []*watcher.Watcher, held []heldUpdate) {
	again := map[string]*watcher.Watcher{}
	for _, u := range updates {
		if u.w.RanOut() && u.spec.Autostart {
			again[strings.ToLower(u.spec.Name)] = u.w
			reruns = append(reruns, u.w)
		}
	}
	if len(again) == 0 {
		return nil, nil
	}
	specs := map[string]configs.Watcher{} // what each depends on once the reload applies
	for key, w := range a.watchers {
		specs[key] = w.Spec()
	}
	for _, u := range updates {
		specs[strings.ToLower(u.spec.Name)] = u.spec
	}
	for _, u := range updates {
		if again[strings.ToLower(u.spec.Name)] == nil && len(rerunDeps(u.spec, specs, again)) > 0 {
			held = append(held, heldUpdate{u, u.w.Spec()})
		}
	}
	return reruns, held
}

// rerunDeps lists the one-shots of again that spec depends on, directly
// or through the watchers of specs.
func rerunDeps(spec configs.Watcher, specs map[string]configs.Watcher, again map[string]*watcher.Watcher) []*watcher.Watcher {
	var out []*watcher.Watcher
	seen := map[string]bool{}
	next := append([]string(nil), spec.DependsOn...)
	for len(next) > 0 {
		key := strings.ToLower(next[0])
		next = next[1:]
		if seen[key] {
			continue
		}
		seen[key] = true
		if w := again[key]; w != nil {
			out = append(out, w)
		}
		next = append(next, specs[key].DependsOn...)
	}
	return out
}

// heldUpdate is an update held for a one-shot's run; was is the spec
// its watcher ran when it was held.
type heldUpdate struct {
	update
	was configs.Watcher
}

// isHeld reports whether w's update is among held.
func isHeld(held []heldUpdate, w *watcher.Watcher) bool {
	for _, u := range held {
		if u.w == w {
			return true
		}
	}
	return false
}

// updateHeld applies, once the one-shots that ran again (reruns) have
// settled, the updates held for them: those whose one-shots are not down
// are updated (a rolling replacement when how the workers start
// changed), the others keep their old spec and workers, with the reason
// in failed. An update that another reload or a set overtook, or whose
// watcher is gone, is dropped. It returns the watchers it updated.
func (a *Arbiter) updateHeld(held []heldUpdate, reruns []*watcher.Watcher, failed map[string]string) []*watcher.Watcher {
	again := map[string]*watcher.Watcher{}
	for _, w := range reruns {
		again[strings.ToLower(w.Name())] = w
	}
	specs := map[string]configs.Watcher{}
	for key, w := range a.watchers {
		specs[key] = w.Spec()
	}
	var touched []*watcher.Watcher
	for _, u := range held {
		delete(a.holding, u.w)
		name := u.spec.Name
		switch {
		case a.watchers[strings.ToLower(name)] != u.w || a.leaving[u.w]:
			continue // removed meanwhile: nothing to update
		case watcher.Compare(u.was, u.w.Spec()).Any():
			continue // a later reload or a set changed it meanwhile: theirs stands
		}
		var down []*watcher.Watcher
		for _, d := range rerunDeps(u.spec, specs, again) {
			if a.stateOf(d) == depDown {
				down = append(down, d)
			}
		}
		if len(down) > 0 {
			failed[name] = fmt.Sprintf("not updated: it depends on %s; the reload ran it again, and its old workers keep serving with the old settings (fix the one-shot, then reload again)",
				a.wordDeps(down, func(depState) bool { return true }))
			continue
		}
		if err := u.w.Update(u.spec, u.socks); err != nil {
			a.log.Error("config reload: updating watcher failed", "watcher", name, "error", err)
			failed[name] = "not updated: " + err.Error()
			continue
		}
		touched = append(touched, u.w)
	}
	return touched
}
