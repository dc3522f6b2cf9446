package arbiter

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/poold/poold/watcher"
)

// reloadOutcome says what a config reload did, watcher by watcher.
type reloadOutcome struct {
	Added, Removed, Updated, Unchanged []string
	// RolledBack maps a watcher whose new workers failed, or which could
	// not be updated or added at all, to the reason; it kept its old spec
	// and workers (a new one is not there).
	RolledBack map[string]string
	// CutShort maps an updated watcher whose rolling reload a stop, rm
	// or quit ended before every worker was replaced to what did (see
	// cutShortWhy). It keeps its new spec (a stopped one runs it at its
	// next start) or is gone: it is not listed under Updated.
	CutShort map[string]string
	// NotStarted maps an added watcher that the reload started but that
	// has a slot with no worker (its spawn failed, a hook refused) to
	// why, in startFailures' words. It stays added, retrying with backoff
	// or stopped, as poolctl status shows.
	NotStarted map[string]string
	// Failed maps an added one-shot (respawn = false) that the reload
	// started, or a changed one that it ran again, and whose workers all
	// ended, one of them badly, to how (watcher.OneShotEnd); Ended one
	// whose workers all ended as configured: its work is done.
	Failed, Ended map[string]string
	// RestartNeeded lists the changed settings that keep their old value
	// until poold restarts ("arbiter.endpoint", "web.address"), sorted.
	RestartNeeded []string
	// Settings are the [arbiter] settings the reload changed and applied
	// at once (reloadsettings.go).
	Settings []settingChange
	// Sockets are the sockets the reload bound, closed and rebound.
	Sockets socketDiff
	// Kept lists, by watcher, the keys the reload kept from run time
	// (set, incr, decr) that the file gives otherwise, as "max_cpu=40"
	// (overrides.go).
	Kept map[string][]string
	// Warnings are the config's (configs.Config.Warnings): what the file
	// let pass but the user should hear of; only those the file last
	// loaded did not have (newWarnings). KnownWarnings counts the others.
	Warnings      []string
	KnownWarnings int
}

// fields are the reply fields poold adds to reloadconfig (ok and error).
// warnings is only there when there are some: Circus has no such key.
func (o reloadOutcome) fields() map[string]any {
	f := map[string]any{
		"added": nonNil(o.Added), "removed": nonNil(o.Removed), "updated": nonNil(o.Updated),
		"unchanged": nonNil(o.Unchanged), "rolled_back": anyMap(o.RolledBack),
		"cut_short":   anyMap(o.CutShort),
		"not_started": anyMap(o.NotStarted), "restart_needed": nonNil(o.RestartNeeded),
		"sockets": o.Sockets.fields(), "settings": settingKeys(o.Settings),
	}
	if len(o.Warnings) > 0 {
		f["warnings"] = o.Warnings
	}
	if o.KnownWarnings > 0 {
		f["warnings_known"] = o.KnownWarnings
	}
	if len(o.Kept) > 0 {
		f["kept"] = o.Kept
	}
	if len(o.Failed) > 0 {
		f["failed"] = anyMap(o.Failed)
	}
	if len(o.Ended) > 0 {
		f["ended"] = anyMap(o.Ended)
	}
	return f
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	sort.Strings(s)
	return s
}

// err is non-nil when a watcher was rolled back or an added one did not
// start; it names each one and what was applied.
func (o reloadOutcome) err() error {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(o.RolledBack)) {
		parts = append(parts, fmt.Sprintf("watcher %q rolled back: %s", n, o.RolledBack[n]))
	}
	for _, n := range slices.Sorted(maps.Keys(o.CutShort)) {
		parts = append(parts, fmt.Sprintf("watcher %q reload cut short: %s", n, o.CutShort[n]))
	}
	for _, n := range slices.Sorted(maps.Keys(o.NotStarted)) {
		parts = append(parts, fmt.Sprintf("watcher %q added but not started: %s", n, o.NotStarted[n]))
	}
	for _, n := range slices.Sorted(maps.Keys(o.Failed)) {
		how := "updated" // a changed one-shot that ran again (reloadoneshot.go)
		if slices.Contains(o.Added, n) {
			how = "added"
		}
		parts = append(parts, fmt.Sprintf("%s, then %s", how, o.Failed[n]))
	}
	if len(parts) == 0 {
		return nil
	}
	applied := "nothing else changed"
	if n := len(o.Added) + len(o.Removed) + len(o.Updated); n > 0 {
		applied = fmt.Sprintf("applied: %s", o.summary())
	}
	return fmt.Errorf("%s; %s", strings.Join(parts, "; "), applied)
}

func (o reloadOutcome) summary() string {
	parts := changeGroups(o.Added, o.Removed, o.Updated)
	if sd := o.Sockets.summary(); sd != "" {
		parts = append(parts, sd)
	}
	if sd := settingsSummary(o.Settings); sd != "" {
		parts = append(parts, sd)
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// changeGroups words the non-empty lists: "added a, b", "removed c", ...
func changeGroups(added, removed, updated []string) []string {
	var parts []string
	for _, g := range []struct {
		what  string
		names []string
	}{{"added", added}, {"removed", removed}, {"updated", updated}} {
		if len(g.names) > 0 {
			parts = append(parts, g.what+" "+strings.Join(nonNil(g.names), ", "))
		}
	}
	return parts
}

// logReload is the reply of a reload nobody waits for (SIGHUP, or
// reloadconfig without waiting): the log says what happened.
func (a *Arbiter) logReload(o reloadOutcome, err error) {
	// What the file warns of (a socket no watcher uses, a backlog above
	// somaxconn) a waited reply carries; here only the log can say it.
	for _, w := range o.Warnings {
		a.log.Warn("config reload: the file has a warning", "warning", w)
	}
	if o.KnownWarnings > 0 {
		a.log.Info("config reload: the file's warnings of the last load still apply, not repeated (poold --check FILE lists every one)", "warnings", o.KnownWarnings)
	}
	if err == nil {
		// An upgrade in place keeps the [arbiter] ones, but binds the
		// [web] listeners where the file says.
		web := slices.DeleteFunc(slices.Clone(o.RestartNeeded), func(k string) bool { return !strings.HasPrefix(k, "web.") })
		kept := slices.DeleteFunc(slices.Clone(o.RestartNeeded), func(k string) bool { return strings.HasPrefix(k, "web.") })
		if len(kept) > 0 {
			a.log.Warn("config reload: these changed settings keep their old value until poold restarts (an upgrade in place keeps them too)",
				"restart_needed", strings.Join(kept, ", "))
		}
		if len(web) > 0 {
			a.log.Warn("config reload: these changed settings keep their old value until poold restarts or is upgraded in place (poolctl upgrade)",
				"restart_needed", strings.Join(web, ", "))
		}
	}
	switch {
	case errors.Is(err, errStopping):
		a.log.Info("config reload ignored: poold is stopping")
	case err != nil:
		a.log.Error("config reload rejected", "error", err)
	case o.err() != nil:
		a.log.Error("config reload not applied in full", "error", o.err())
	default:
		a.log.Info("config reloaded", "changes", o.summary())
	}
}

// rolledBack moves the updated watchers whose rollout was abandoned from
// Updated to RolledBack, beside those that failed to be updated or added,
// and those whose rollout a stop, rm or quit cut short to CutShort (ran:
// the touched watchers that were running when the reload began).
func (a *Arbiter) rolledBack(o reloadOutcome, touched []*watcher.Watcher, ran map[*watcher.Watcher]bool, failed map[string]string) reloadOutcome {
	o.RolledBack = maps.Clone(failed)
	o.CutShort = map[string]string{}
	o.Updated = nil
	for _, w := range touched {
		if err := w.ReloadError(); err != nil {
			o.RolledBack[w.Name()] = err.Error()
		} else if why := a.cutShortWhy(w, ran[w]); why != "" {
			o.CutShort[w.Name()] = why
		} else {
			o.Updated = append(o.Updated, w.Name())
		}
	}
	return o
}

// cutShortWhy words, for a watcher a config reload updated, what stopped
// it before every worker was replaced (ran: it was running when the
// reload began, so its rollout was under way): rm --nostop, an rm or a
// later reload that removed it, quit, its own start failing (a hook), or
// a stop; "" when nothing did.
// Its settings are not rolled back: a stopped one runs them at its next
// start, which is why it is not listed under rolled_back either.
func (a *Arbiter) cutShortWhy(w *watcher.Watcher, ran bool) string {
	if why := letGoOf("reload", []*watcher.Watcher{w}); why != "" {
		return why
	}
	if ran && w.RanOut() {
		// A one-shot that ran out stopped on its own: how it ended, ""
		// when as configured (no stop cut it short).
		return stoppedWhy(w, "reload")
	}
	if !ran || a.stoppedSince("reload", []*watcher.Watcher{w}) == "" {
		return ""
	}
	switch {
	case a.watchers[strings.ToLower(w.Name())] != w || a.leaving[w]:
		return "an rm or a later config reload removed it before every worker was replaced: it is gone"
	case a.stopping:
		return "poold began to shut down (quit, or a signal) before every worker was replaced"
	}
	if err := w.StartError(); err != nil {
		// Its own start failed (a before_start or after_start hook):
		// nobody stopped it.
		return fmt.Sprintf("its start failed before every worker was replaced: %v; it is stopped, with the new settings, which its next start runs: fix the cause, then run poolctl start %s", err, w.Name())
	}
	return fmt.Sprintf("a stop came in before every worker was replaced: it is stopped, with the new settings, which its next start runs (poolctl start %s)", w.Name())
}

// notStarted maps each of the added watchers a reload started that has
// a slot with no worker to show for it to why.
func notStarted(started []*watcher.Watcher) map[string]string {
	m := map[string]string{}
	for _, w := range started {
		if w.RanOut() {
			continue // a one-shot that ran: oneShotsOf says how it ended
		}
		// They were started: one stopped since was cut short.
		why := startFailures("start", managed([]*watcher.Watcher{w}))
		if why = joinWhy(letGoOf("reload", []*watcher.Watcher{w}), why); why != "" {
			m[w.Name()] = why
		}
	}
	return m
}
