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
// for a before_stop hook (which runs before the signal) and, for a
// watcher that what comes next depends on, for each of its reap hooks
// (before_reap, then after_reap) and its after_stop (which waits for
// them); the hooks that nothing waits for run on at the end, and the
// longest of them adds up to three hook_timeouts. A watcher without workers stops at once and is left out,
// unless it has an after_stop hook, which its stop runs all the same.
// An orchestrator that kills poold sooner (Kubernetes'
// terminationGracePeriodSeconds, systemd's TimeoutStopSec) cuts the stop
// of the watchers that stop last. What workers or hooks left outside
// their groups then has orphanGrace before poold exits (endOrphans), a
// time that counts too: with graceful_timeout 5s and a hook's daemon that
// ignored SIGTERM the stop took 7.1 s, after "up_to=5s". With planned,
// the bound is of the config as started: every autostart watcher counts
// its workers, whether they run yet or not (the check at start).
func (a *Arbiter) stopBound(ws []*watcher.Watcher, planned bool) (time.Duration, string) {
	groups := a.orderGroups(ws)
	var total, tail time.Duration
	var order []string
	for i := len(groups) - 1; i >= 0; i-- {
		rest := groups[:i] // what stops after this group
		var slowest *watcher.Watcher
		var longest time.Duration
		for _, w := range groups[i] {
			d, late, counts := a.stopTime(w, rest, planned)
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
	if total+tail > 0 && a.opts.ReapOrphans && !a.foreignProc {
		tail += orphanGrace
		order = append(order, fmt.Sprintf("leftovers %s", orphanGrace))
	}
	return total + tail, strings.Join(order, ", then ")
}

// stopTime is how long w's stop may hold what stops after it (rest):
// graceful_timeout and a before_stop hook for its workers, and, when w
// depends on a watcher of rest (which stops once w has settled), its
// workers' before_reap and after_reap hooks, which run one after the
// other, and then its after_stop hook; late is how long those hooks may
// run on at the end when nothing waits for them. counts is false for a
// watcher whose stop is done at once: stopped, or without workers and
// after_stop. planned: see stopBound.
func (a *Arbiter) stopTime(w *watcher.Watcher, rest [][]*watcher.Watcher, planned bool) (d, late time.Duration, counts bool) {
	s := w.Spec()
	running := planned && s.Autostart && s.NumProcesses > 0
	idle := len(w.Pids()) == 0 && !running
	after := s.Hooks["after_stop"] != ""
	if (w.Status() == watcher.Stopped && !running) || (idle && !after) {
		return 0, 0, false
	}
	var reap time.Duration // a worker's before_reap, then its after_reap
	if !idle {
		d = s.GracefulTimeout
		if s.Hooks["before_stop"] != "" {
			d += s.HookTimeout
		}
		for _, h := range []string{"before_reap", "after_reap"} {
			if s.Hooks[h] != "" {
				reap += s.HookTimeout
			}
		}
	}
	var stop time.Duration // after_stop, which waits for the reap hooks
	if after {
		stop = s.HookTimeout
	}
	if a.needsBefore(w, rest) {
		// What w depends on stops once w has settled: reap hooks and
		// after_stop ended.
		return d + reap + stop, 0, true
	}
	return d, reap + stop, true
}

// noteGracePeriod, once at start, warns when the stop of
// the config as started may take as long as the grace period poold's
// orchestrator gives it before SIGKILL (Options.GracePeriod: Kubernetes'
// default terminationGracePeriodSeconds is 30 s, and so is poold's
// default graceful_timeout, kept for Circus's sake): as the pod's PID 1,
// poold and the watchers that stop last would be killed in their stop.
func (a *Arbiter) noteGracePeriod() {
	if a.graceNoted || a.stopping || a.opts.GracePeriod <= 0 {
		return
	}
	a.graceNoted = true
	upTo, order := a.stopBound(a.sorted(nil), true)
	if upTo < a.opts.GracePeriod {
		return
	}
	advice := a.opts.GraceAdvice
	if advice == "" {
		advice = "give poold longer than up_to between SIGTERM and SIGKILL"
	}
	a.log.Warn("poold's stop may take as long as the grace period it has before SIGKILL, or longer, which would kill the watchers that stop last in their stop: "+
		advice+"; or lower graceful_timeout",
		"up_to", upTo, "slowest_in_order", order, "grace_period", a.opts.GracePeriod, "grace_period_from", a.opts.GraceFrom)
}
