package arbiter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/cgroup"
)

// Limits without cgroups. A watcher with memory_max, pids_max or cpu_max
// cannot start a worker where poold has no cgroups (unenforced): each
// spawn fails, the watcher flaps, then fails. poold --check probes
// whether it could make cgroups (CheckContainment), and a running poold
// without them refuses add, set and reloads that bring such a limit, each
// naming the key, rather than answering ok and flapping afterwards.

// limitKey is a cgroup limit of a watcher, by its key.
type limitKey struct {
	key string
	of  func(configs.Watcher) any
}

var limitKeys = []limitKey{
	{"memory_max", func(s configs.Watcher) any { return s.MemoryMax }},
	{"pids_max", func(s configs.Watcher) any { return s.PidsMax }},
	{"cpu_max", func(s configs.Watcher) any { return s.CPUMax }},
}

// setLimits lists the keys of the limits s sets that before did not set
// to the same value (every one s sets when before is nil).
func setLimits(s configs.Watcher, before *configs.Watcher) []string {
	var keys []string
	for _, l := range limitKeys {
		v := l.of(s)
		if v == l.of(configs.Watcher{}) || (before != nil && v == l.of(*before)) {
			continue
		}
		keys = append(keys, l.key)
	}
	return keys
}

// unenforcedProblems are the problems, keyed by prefix+key, of the
// limits s brings over before that poold cannot enforce: why is what
// contains workers instead (Arbiter.containment).
func unenforcedProblems(prefix string, s configs.Watcher, before *configs.Watcher, why string) []configs.Problem {
	var ps []configs.Problem
	for _, key := range setLimits(s, before) {
		ps = append(ps, configs.Problem{Key: prefix + key, Msg: fmt.Sprintf(
			"cannot be enforced: poold has no cgroups (containment: %s), so no worker of watcher %q could start; "+
				"give poold a cgroup it may write to (root, or systemd Delegate=yes; README \"Containment\"), or remove %s",
			why, s.Name, key)})
	}
	return ps
}

// CheckContainment is poold --check's: when a watcher of ws has a cgroup
// limit, it probes whether poold could make cgroups here (cgroup.Probe,
// what poold's start does) and names every such limit when it could not.
// file names the config.
func CheckContainment(file string, ws []configs.Watcher) error {
	limited := false
	for _, w := range ws {
		limited = limited || len(setLimits(w, nil)) > 0
	}
	if !limited {
		return nil
	}
	err := cgroup.Probe()
	if err == nil {
		return nil
	}
	return unenforcedAll(file, ws, nil, "process group ("+err.Error()+")")
}

// unenforcedAll is the error for the limits of ws that poold without
// cgroups (why) cannot enforce, a limit a watcher runs with already
// (running, by lower-case name; nil for none) excepted; nil when there
// are none.
func unenforcedAll(file string, ws []configs.Watcher, running map[string]configs.Watcher, why string) error {
	var all []configs.Problem
	for _, w := range ws {
		var before *configs.Watcher
		if cur, ok := running[strings.ToLower(w.Name)]; ok {
			before = &cur
		}
		all = append(all, unenforcedProblems("watchers."+w.Name+".", w, before, why)...)
	}
	if len(all) == 0 {
		return nil
	}
	return &configs.Error{File: file, Problems: all}
}

// refuseUnenforced refuses an add (before nil) or a set (before the spec
// it changes) that gives watcher spec a limit poold, without cgroups,
// cannot enforce. A limit the watcher has already is not refused: the set
// does not bring it.
func (a *Arbiter) refuseUnenforced(spec configs.Watcher, before *configs.Watcher) error {
	if a.tree != nil {
		return nil
	}
	ps := unenforcedProblems("", spec, before, a.containment)
	if len(ps) == 0 {
		return nil
	}
	return &configs.Error{Watcher: spec.Name, Problems: ps}
}

// warnUnenforced says at start, poold having no cgroups, which limits of
// the config no worker can start with: those watchers fail their starts.
func (a *Arbiter) warnUnenforced() {
	if err := unenforcedAll(a.cfg.Path, a.cfg.Watchers, nil, a.containment); err != nil {
		a.log.Warn("watchers with cgroup limits cannot start without cgroups (poold --check reports the same)", "problems", err)
	}
}

// joinProblems merges the problems of errs (each nil or a
// *configs.Error) into one *configs.Error naming file, nil when there
// are none; an error of another kind is returned as it is.
func joinProblems(file string, errs ...error) error {
	var all []configs.Problem
	for _, err := range errs {
		var ce *configs.Error
		switch {
		case errors.As(err, &ce):
			all = append(all, ce.Problems...)
		case err != nil:
			return err
		}
	}
	if len(all) == 0 {
		return nil
	}
	return &configs.Error{File: file, Problems: all}
}
