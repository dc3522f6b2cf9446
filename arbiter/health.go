package arbiter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poold/poold/watcher"
)

// Ping reports whether the loop answers: nil once it has run an empty
// message, ctx's error if it did not in time, ErrStopped once it has
// ended. Live builds the liveness check (/healthz) on it: cheaper than
// a Snapshot, and it proves what matters, that the loop is not stuck.
func (a *Arbiter) Ping(ctx context.Context) error {
	c := make(chan struct{})
	if !a.postCtx(ctx, funcMsg{func() { close(c) }}) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ErrStopped
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.stopped:
		return ErrStopped
	}
}

// ErrBusy is Live's answer for a loop that did not answer in time but
// went on working meanwhile: alive, not stuck.
var ErrBusy = errors.New("poold's event loop is busy (it went on starting, signalling or reaping workers while the probe waited)")

// BusyError is Live's answer for a loop that did not answer in time and
// did no countable work meanwhile, but is in one step (a worker's fork,
// a command) that began less than Options.StuckAfter ago: busy, so
// errors.Is(err, ErrBusy).
type BusyError struct {
	Step  string        // the step, as the log names it
	For   time.Duration // how long the loop has been in it
	Bound time.Duration // past it, the loop is stuck
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("poold's event loop is busy in %s for %v (stuck only past %v)", e.Step, e.For.Round(time.Millisecond), e.Bound)
}

// Is makes a BusyError ErrBusy.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// StuckError is Live's answer for a loop in one step for longer than
// Options.StuckAfter: stuck. errors.Is(err, context.DeadlineExceeded).
type StuckError struct {
	Step  string
	For   time.Duration
	Bound time.Duration
}

func (e *StuckError) Error() string {
	return fmt.Sprintf("poold's event loop is stuck: in %s for %v, past the bound of %v (poold's log has a WARN naming the step; "+
		"a fork or cgroup write blocked in the kernel is the usual cause: see its stack in /proc/PID/task/*/stack)",
		e.Step, e.For.Round(time.Millisecond), e.Bound)
}

// Is makes a StuckError context.DeadlineExceeded, as a probe that timed
// out on a stuck loop has always been.
func (e *StuckError) Is(target error) bool { return target == context.DeadlineExceeded }

// Live is the liveness check (/healthz, systemd's WATCHDOG=1): nil when
// the loop answers within ctx; ErrBusy when it did not but made progress
// meanwhile, as it does for seconds while one command starts a thousand
// workers, one fork after another; a *BusyError when it made none but is
// in one step that began less than Options.StuckAfter ago (a fork that
// waits on a loaded host's cgroup lock, 6 s in the r66 soak); a
// *StuckError past that; otherwise Ping's error: the loop is stuck. A
// busy loop is alive, and killing poold then (a liveness probe, the
// watchdog) would take every worker down in the middle of a reload.
func (a *Arbiter) Live(ctx context.Context) error {
	before := a.Work()
	err := a.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if a.Work() != before {
		return ErrBusy
	}
	s := a.steps.now()
	if s == nil {
		return err
	}
	d, bound := time.Since(s.at), a.stuckBound()
	if d < bound {
		return &BusyError{Step: s.String(), For: d, Bound: bound}
	}
	return &StuckError{Step: s.String(), For: d, Bound: bound}
}

// Stuck is Live's verdict on a loop known to be blocked, without asking
// it: a *StuckError once the loop has been in its step longer than
// Options.StuckAfter, nil before (or with no step). For one who answers
// for the loop while it is held on purpose (an upgrade's hand-over), so
// that its "alive" ends where Live's would. Safe from any goroutine.
func (a *Arbiter) Stuck() error {
	s := a.steps.now()
	if s == nil {
		return nil
	}
	if d, bound := time.Since(s.at), a.stuckBound(); d >= bound {
		return &StuckError{Step: s.String(), For: d, Bound: bound}
	}
	return nil
}

// Work counts the loop's units of work (a message handled, a worker
// started, signalled or reaped): two reads that differ mean the loop
// worked in between. Safe from any goroutine.
func (a *Arbiter) Work() uint64 { return a.work.Load() }

// postCtx is post that also gives up when ctx is done (a full inbox is a
// busy loop, and a probe must not wait on it for ever).
func (a *Arbiter) postCtx(ctx context.Context, m any) bool {
	select {
	case a.inbox <- m:
		return true
	case <-a.stopped:
		return false
	case <-ctx.Done():
		return false
	}
}

// fromLoop runs fn on the loop and returns what it returned, or the zero
// value when ctx ends or poold stops first: how a goroutine off the loop
// (the stats tick's looks) reads the loop's state.
func fromLoop[T any](a *Arbiter, ctx context.Context, fn func() T) T {
	c := make(chan T, 1)
	var zero T
	if !a.postCtx(ctx, funcMsg{func() { c <- fn() }}) {
		return zero
	}
	select {
	case out := <-c:
		return out
	case <-ctx.Done():
		return zero
	case <-a.stopped:
		return zero
	}
}

// NotReady lists why poold is not ready to serve (/readyz); none means it
// is. poold is ready when it is not shutting down and every watcher that
// counts is active (not starting, stopping, stopped, flapping or failed)
// and has at least its target of ready workers (an elastic pool: its
// min_workers, so a pool growing under load, whose new workers are still
// starting, or an on_demand pool starting on its first connection, stays
// ready), less its slots left empty as configured (respawn = false,
// no_respawn_exit_codes). Workers of any generation count, so a rolling
// reload, whose old workers serve until their replacements are ready,
// keeps poold ready; a worker that died and is not yet replaced does not.
//
// A watcher counts unless its required_for_readiness is false, or its
// autostart is false and nothing has started it yet (see neverRan). One
// that rests (see resting: stopped or stopping on purpose,
// with nothing to start it again) is left out only when every socket it
// serves has another watcher running on it: poold keeps a socket open
// when its pool stops, and a load balancer sees a socket that accepts
// connections nobody answers. A worker that ended badly with respawn =
// false (a failed migration) keeps its watcher not ready, as systemd's
// failed oneshot, until a start runs it again or a stop puts it at rest. When every watcher that counts rests, nothing runs:
// poold is not ready either. A watcher poold is yet to start, waiting on
// a dependency, restarting, or whose start failed counts: it should run.
func NotReady(s Snapshot) []string {
	if s.Stopping {
		return []string{"poold is shutting down"}
	}
	var out, rest []string
	counted := 0
	for _, w := range s.Watchers {
		if w.Spec.ReadinessOptional || neverRan(w) {
			continue
		}
		counted++
		why := failedExits(w)
		switch {
		case why != "":
		case w.Resting:
			rest = append(rest, w.Name)
			why = unserved(s, w)
		default:
			why = watcherNotReady(w, s.Taken)
		}
		if why != "" {
			out = append(out, why)
		}
	}
	if len(out) == 0 && counted > 0 && len(rest) == counted {
		out = append(out, fmt.Sprintf("no watcher that counts for readiness runs: %s stopped on purpose; start one (poolctl start NAME)",
			nameList(rest)))
	}
	return out
}

// neverRan reports whether w is a watcher with autostart = false that
// nothing has started yet: at rest as its config says, so it counts
// neither as a watcher that should run nor as one stopped on purpose on
// a socket (poold would otherwise never be ready at boot, and systemd's
// start of it would time out, for a pool an operator starts later).
// Once started it counts as any watcher, until a stop puts it at rest.
func neverRan(w WatcherSnapshot) bool {
	return !w.Spec.Autostart && !w.Started && w.Resting
}

// failedExits says how w's exited slots failed (see watcher.SlotInfo's
// Failed); "" when none did.
func failedExits(w WatcherSnapshot) string {
	var bad []string
	for _, sl := range w.Slots {
		if sl.Pid == 0 && sl.State == string(watcher.HoldExited) && sl.Failed {
			bad = append(bad, fmt.Sprintf("wid %d %s", sl.Wid, sl.LastExit))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("watcher %q failed: %s, with respawn off and a status neither 0 nor listed in no_respawn_exit_codes; "+
		"fix the cause, then run `start %s` (or list the status in no_respawn_exit_codes if it means success; `stop %s` leaves it at rest)",
		w.Name, strings.Join(bad, "; "), w.Name, w.Name)
}

// unserved says why w, a watcher at rest, keeps poold from being ready:
// a socket poold holds that it serves and no other running watcher does;
// "" when there is none.
func unserved(s Snapshot, w WatcherSnapshot) string {
	held := make(map[string]string, len(s.Sockets))
	for _, sk := range s.Sockets {
		held[sk.Name] = sk.Address
	}
	var alone []string
	for _, name := range w.Sockets {
		addr, ok := held[name]
		if !ok || servedElsewhere(s, w.Name, name) {
			continue
		}
		alone = append(alone, fmt.Sprintf("%q (%s)", name, addr))
	}
	if len(alone) == 0 {
		return ""
	}
	return fmt.Sprintf("watcher %q is %s on purpose, and nothing else serves its socket %s, which poold keeps open: "+
		"connections there wait unanswered; run `start %s`, or move the socket to a running watcher",
		w.Name, w.Status, strings.Join(alone, ", "), w.Name)
}

// servedElsewhere reports whether a watcher other than the one named
// skip runs active on the socket named name.
func servedElsewhere(s Snapshot, skip, name string) bool {
	for _, o := range s.Watchers {
		if o.Name == skip || o.Resting || o.Status != watcher.Active {
			continue
		}
		if slices.Contains(o.Sockets, name) {
			return true
		}
	}
	return false
}

// nameList words a few watcher names: "a", "a and b", "a, b and 3 more".
func nameList(names []string) string {
	q := make([]string, 0, min(len(names), 3))
	for _, n := range names[:min(len(names), 3)] {
		q = append(q, strconv.Quote(n))
	}
	switch {
	case len(names) > 3:
		return fmt.Sprintf("%s and %d more are", strings.Join(q, ", "), len(names)-3)
	case len(names) == 1:
		return q[0] + " is"
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1] + " are"
}

// watcherNotReady says why w, a watcher that counts, keeps poold from
// being ready, as of now; "" when it does not. With ready_min, enough
// ready workers make it ready also while a slot flaps or gave up
// (healthy workers run on in both): a pool of 4 with one slot that
// cannot start served 22.9k requests/s without an error, and /readyz
// kept every replica out of the Service (r57b review).
func watcherNotReady(w WatcherSnapshot, now time.Time) string {
	ready, exited := 0, 0
	for _, p := range w.Processes {
		if p.State == watcher.ProcReady {
			ready++
		}
	}
	for _, sl := range w.Slots {
		if sl.Pid == 0 && sl.State == string(watcher.HoldExited) {
			exited++
		}
	}
	need := max(w.Target-exited, 0)
	rm := w.Spec.ReadyMin
	if w.Status != watcher.Active && !(rm.Set() && running(w.Status) && need > 0 && ready >= min(need, rm.Of(w.Target))) {
		why := fmt.Sprintf("watcher %q is %s", w.Name, w.Status)
		if w.Reason != "" {
			return why + ": " + w.Reason
		}
		return why + waitsFor(w, now)
	}
	// A slot left empty as configured is not a worker short.
	also := ""
	if exited > 0 {
		also = fmt.Sprintf(" (%d more exited as configured and are not replaced)", exited)
	}
	switch {
	case w.Spec.Elastic() && ready < min(need, w.Size.Min, rm.Of(w.Target)):
		return fmt.Sprintf("watcher %q has %d of %d workers ready, fewer than its min_workers %d%s", w.Name, ready, need, w.Size.Min, also) +
			waitsFor(w, now)
	case w.Spec.Elastic():
	case rm.Set() && ready < min(need, rm.Of(w.Target)):
		return fmt.Sprintf("watcher %q has %d of %d workers ready, fewer than its ready_min %s (%d)%s", w.Name, ready, need, rm, rm.Of(w.Target), also) +
			waitsFor(w, now)
	case !rm.Set() && ready < need:
		return fmt.Sprintf("watcher %q has %d of %d workers ready%s", w.Name, ready, need, also) + waitsFor(w, now)
	}
	return ""
}

// running says whether a watcher of status st runs its workers: one
// that starts, runs, or has a slot that flaps or gave up.
func running(st watcher.Status) bool {
	return st == watcher.Starting || st == watcher.Active || st == watcher.Flapping || st == watcher.Failed
}

// waitsFor says what w's first worker not ready yet waits for, and how
// its slot's last worker ended, or, with none starting, why its first
// slot without a worker has none: "; worker 1 (pid 12) is not ready after
// 12s of ready_timeout 20s (readiness notify)". "" when there is nothing
// to add. (The README promises STATUS= says which watcher and why.)
func waitsFor(w WatcherSnapshot, now time.Time) string {
	for _, p := range w.Processes {
		if p.State != watcher.ProcStarting || p.Pid == 0 {
			continue
		}
		why := fmt.Sprintf("; worker %d (pid %d) is not ready", p.Wid, p.Pid)
		if !p.Started.IsZero() && !now.IsZero() {
			why += fmt.Sprintf(" after %s of", max(now.Sub(p.Started), 0).Truncate(time.Second))
		} else {
			why += ", with"
		}
		why += fmt.Sprintf(" ready_timeout %s (readiness %s)", w.Spec.ReadyTimeout, w.Spec.Readiness)
		for _, sl := range w.Slots {
			if sl.Wid == p.Wid && sl.LastExit != "" {
				why += "; its slot's last worker: " + sl.LastExit
			}
		}
		return why
	}
	for _, sl := range w.Slots {
		if sl.Pid == 0 && sl.LastExit != "" && sl.State != string(watcher.HoldExited) {
			return fmt.Sprintf("; slot %d (%s) has no worker, its last one: %s", sl.Wid, sl.State, sl.LastExit)
		}
	}
	return ""
}

// resting reports whether w is stopped, or stopping, on purpose with
// nothing to start it again (watcher.Resting), and no start job or
// restart of the arbiter's waits for it: a stop an operator asked for,
// or a one-shot whose workers ended as configured. Call it on the loop.
func (a *Arbiter) resting(w *watcher.Watcher) bool {
	return w.Resting() && !a.isRestarting(w) && len(a.starts.jobs[w]) == 0
}

// ConfigState is what poold knows of its configuration file's reloads.
type ConfigState struct {
	// LastReloadOK is false when the last reload (SIGHUP, reloadconfig)
	// was refused or a watcher's new workers failed and were rolled
	// back; true before any reload (the config poold started with loaded).
	LastReloadOK bool
	// LastSuccess is when the config was last applied in full: poold's
	// start, or the last successful reload.
	LastSuccess time.Time
	// LastError is why the last reload failed, "" when it did not.
	LastError string
}

// recordReload wraps the reply of a config reload so that its outcome is
// kept for the Snapshot (metrics: poold_config_last_reload_successful).
// Call it on the loop; reply runs on the loop too.
//
// Outcomes come in the order reloads end, not the order they were asked
// for: one that rolls a slow watcher ends after a later one refused at
// once. The later one's outcome stands then (the file on disk is not in
// force), so an outcome is kept only if no later reload's was.
func (a *Arbiter) recordReload(reply func(reloadOutcome, error)) func(reloadOutcome, error) {
	a.reloadAsked++
	seq := a.reloadAsked
	return func(o reloadOutcome, err error) {
		if seq < a.reloadKept {
			reply(o, err)
			return
		}
		a.reloadKept = seq
		failed := err
		if failed == nil {
			failed = o.err() // applied, but a watcher was rolled back
		}
		a.config.LastReloadOK = failed == nil
		a.config.LastError = ""
		if failed != nil {
			a.config.LastError = failed.Error()
		} else {
			a.config.LastSuccess = time.Now()
		}
		reply(o, err)
	}
}

// OnSettled calls fn on the loop once the watcher named name (any case)
// has settled (see watcher.Settled), at once if it already has; already
// says which. It returns false if poold has no such watcher or has
// stopped. fn must not block: it runs on the loop.
func (a *Arbiter) OnSettled(ctx context.Context, name string, fn func(at time.Time, already bool)) bool {
	found := make(chan bool, 1)
	ok := a.postCtx(ctx, funcMsg{func() {
		w := a.watchers[strings.ToLower(name)]
		found <- w != nil
		if w == nil {
			return
		}
		already := w.Settled()
		w.WhenSettled(func() { fn(time.Now(), already) })
	}})
	if !ok {
		return false
	}
	select {
	case f := <-found:
		return f
	case <-ctx.Done():
		return false
	case <-a.stopped:
		return false
	}
}
