package arbiter

import (
	"context"
	"errors"
	"fmt"
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

// Live is the liveness check (/healthz, systemd's WATCHDOG=1): nil when
// the loop answers within ctx; ErrBusy when it did not but made progress
// meanwhile, as it does for seconds while one command starts a thousand
// workers, one fork after another; otherwise Ping's error: the loop is
// stuck. A busy loop is alive, and killing poold then (a liveness probe,
// the watchdog) would take every worker down in the middle of a reload.
func (a *Arbiter) Live(ctx context.Context) error {
	before := a.Work()
	err := a.Ping(ctx)
	if errors.Is(err, context.DeadlineExceeded) && a.Work() != before {
		return ErrBusy
	}
	return err
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
// A watcher counts unless its autostart or its required_for_readiness is
// false, or it rests (see resting): stopped or stopping on purpose, with
// nothing to start it again. A watcher poold is yet to start, waiting on
// a dependency, restarting, or whose start failed counts: it should run.
func NotReady(s Snapshot) []string {
	if s.Stopping {
		return []string{"poold is shutting down"}
	}
	var out []string
	for _, w := range s.Watchers {
		if !w.Spec.Autostart || w.Spec.ReadinessOptional || w.Resting {
			continue
		}
		if why := watcherNotReady(w); why != "" {
			out = append(out, why)
		}
	}
	return out
}

// watcherNotReady says why w, a watcher that counts, keeps poold from
// being ready; "" when it does not.
func watcherNotReady(w WatcherSnapshot) string {
	if w.Status != watcher.Active {
		why := fmt.Sprintf("watcher %q is %s", w.Name, w.Status)
		if w.Reason != "" {
			why += ": " + w.Reason
		}
		return why
	}
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
	// A slot left empty as configured is not a worker short.
	also := ""
	if exited > 0 {
		also = fmt.Sprintf(" (%d more exited as configured and are not replaced)", exited)
	}
	switch need := max(w.Target-exited, 0); {
	case w.Spec.Elastic() && ready < min(need, w.Size.Min):
		return fmt.Sprintf("watcher %q has %d of %d workers ready, fewer than its min_workers %d%s", w.Name, ready, need, w.Size.Min, also)
	case !w.Spec.Elastic() && ready < need:
		return fmt.Sprintf("watcher %q has %d of %d workers ready%s", w.Name, ready, need, also)
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
