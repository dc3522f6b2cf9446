package arbiter

import (
	"fmt"
	"strings"
	"time"

	"github.com/poold/poold/watcher"
)

// stopBound is how long a graceful stop of ws may take before poold can
// exit, and the stop order that makes it ("web 20s, then db 30s"). The
// groups of stopInOrder stop one after another, each once the one before
// has no workers left, so their times add up: a group takes as long as
// its slowest watcher, that is its graceful_timeout, plus hook_timeout
// for a before_stop hook (which runs before the signal) and for an
// after_stop hook that what comes next waits for; hooks still running
// at the end (after_stop, before_reap, after_reap) may add one
// hook_timeout. A watcher without workers stops at once and is left out,
// unless it has an after_stop hook, which its stop runs all the same.
// An orchestrator that kills poold sooner (Kubernetes'
// terminationGracePeriodSeconds, systemd's TimeoutStopSec) cuts the stop
// of the watchers that stop last.
func (a *Arbiter) stopBound(ws []*watcher.Watcher) (time.Duration, string) {
	groups := a.orderGroups(ws)
	var total, tail time.Duration
	var order []string
	for i := len(groups) - 1; i >= 0; i-- {
		rest := groups[:i] // what stops after this group
		var slowest *watcher.Watcher
		var longest time.Duration
		for _, w := range groups[i] {
			d, late, counts := a.stopTime(w, rest)
			if !counts {
				continue
			}
			tail = max(tail, late)
			if slowest == nil || d > longest {
				slowest, longest = w, d
			}
		}
		if slowest != nil && longest > 0 {
			total += longest
			order = append(order, fmt.Sprintf("%s %s", slowest.Name(), longest))
		}
	}
	if tail > 0 {
		order = append(order, fmt.Sprintf("hooks %s", tail))
	}
	return total + tail, strings.Join(order, ", then ")
}

// stopTime is how long w's stop may hold what stops after it (rest):
// graceful_timeout and a before_stop hook for its workers, and an
// after_stop hook that rest waits for; late is how long its hooks may
// run on at the end (an after_stop nothing waits for, before_reap,
// after_reap). counts is false for a watcher whose stop is done at once:
// stopped, or without workers and after_stop.
func (a *Arbiter) stopTime(w *watcher.Watcher, rest [][]*watcher.Watcher) (d, late time.Duration, counts bool) {
	s := w.Spec()
	idle := len(w.Pids()) == 0
	after := s.Hooks["after_stop"] != ""
	if w.Status() == watcher.Stopped || (idle && !after) {
		return 0, 0, false
	}
	if !idle {
		d = s.GracefulTimeout
		if s.Hooks["before_stop"] != "" {
			d += s.HookTimeout
		}
		if s.Hooks["before_reap"] != "" || s.Hooks["after_reap"] != "" {
			late = s.HookTimeout
		}
	}
	if after && a.needsBefore(w, rest) {
		d += s.HookTimeout
	} else if after {
		late = s.HookTimeout
	}
	return d, late, true
}
