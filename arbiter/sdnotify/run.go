package sdnotify

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
)

const (
	// lookGap is the least time between two Snapshots before READY=1 was
	// sent: a burst of spawn events costs one look per gap, and READY=1
	// follows the last worker's readiness by about this much at most.
	lookGap = 100 * time.Millisecond
	// lookTimeout bounds a wait for the arbiter's loop.
	lookTimeout = 2 * time.Second
	// startLook is the period of the look at the arbiter until READY=1,
	// in case a change published no event.
	startLook = time.Second
	// firstRetry and lastRetry bound the backoff between tries of a
	// READY=1 whose datagram failed (no socket yet, a full queue): it is
	// tried again until it is sent or poold stops, since a Type=notify
	// unit without it stays "activating" until its start times out.
	firstRetry = 100 * time.Millisecond
	lastRetry  = 5 * time.Second
)

// state is what Run has told the service manager. Owned by Run.
type state struct {
	c            conn
	readySent    bool // the first READY=1
	announced    int  // reloads announced with RELOADING=1 (pending.begun)
	awaitReady   bool // a RELOADING=1 awaits its READY=1
	takingOver   bool // an upgrade's image: its loop has not answered yet
	upgradeOwed  bool // an upgrade's image: the old image's RELOADING=1 awaits this READY=1
	stoppingSent bool
	status       string        // the last STATUS= sent
	statusAt     time.Time     // when
	lookedAt     time.Time     // the last Snapshot
	dirty        bool          // an event came since lookedAt
	retry        time.Duration // the last wait between tries of a failed READY=1
	retryAt      time.Time     // no new try before then
}

// failed returns when to try a READY=1 again whose send failed, doubling
// the wait up to lastRetry.
func (st *state) failed() time.Duration {
	st.retry = min(max(2*st.retry, firstRetry), lastRetry)
	st.retryAt = time.Now().Add(st.retry)
	return st.retry
}

// Run sends notifications until ctx is done, asking src for poold's
// state, then sends a STOPPING=1 it still owes and returns nil.
func (n *Notifier) Run(ctx context.Context, src Source) error {
	st := &state{c: conn{addr: n.opts.Socket, failing: &n.failing}, dirty: true}
	if n.opts.Upgraded && !n.opts.StartOwed {
		// The image before sent READY=1, then RELOADING=1 at its exec.
		st.readySent, st.awaitReady, st.takingOver, st.upgradeOwed = true, true, true, true
	}
	defer st.c.close()
	// Events only say "something changed": a burst costs one look per
	// lookGap, and one dropped for a full queue costs nothing.
	var evc <-chan events.Event
	if n.opts.Events != nil {
		sub := n.opts.Events.Subscribe(64)
		defer sub.Close()
		evc = sub.C()
	}
	// The watchdog has a goroutine and a socket of its own: a look at
	// the arbiter (Snapshot) that waits on a busy loop for up to
	// lookTimeout must not hold WATCHDOG=1 back past WatchdogSec.
	if n.opts.Watchdog > 0 {
		var dog sync.WaitGroup
		dog.Add(1)
		go func() {
			defer dog.Done()
			n.runWatchdog(ctx, src)
		}()
		defer dog.Wait() // Run returns once ctx is done, which ends it
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			n.finish(st)
			return nil
		case _, ok := <-evc:
			if !ok {
				evc = nil
			}
			st.dirty = true
		case <-n.wake:
		case <-timer.C:
		}
		next := n.step(ctx, st, src)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// step sends what is due and returns when to look again.
func (n *Notifier) step(ctx context.Context, st *state, src Source) time.Duration {
	p := n.pending()
	if p.stopping {
		if !st.stoppingSent {
			st.c.send(n.log, message("STOPPING=1", status("stopping every watcher")))
			st.stoppingSent, st.status, st.statusAt = true, "stopping every watcher", time.Now()
		}
		return n.statusUpdate(ctx, st, src)
	}
	if st.takingOver {
		// The take-over is done once the loop answers: it adopted the
		// workers and acted on the signals the old image left (a
		// reload among them has begun by then).
		if _, err := n.snapshot(ctx, st, src); err != nil {
			return startLook
		}
		st.takingOver = false
		p = n.pending()
	}
	if st.readySent && p.begun > st.announced {
		// Each reload taken gets its own MONOTONIC_USEC, one that joins
		// a reload under way too: under Type=notify-reload, systemd takes
		// only a RELOADING=1 at or after the SIGHUP it sent. Reloads
		// begun between two steps share the last one's.
		st.announced = p.begun
		st.awaitReady = true
		st.c.send(n.log, message("RELOADING=1", monotonicField(p.beganAt), status("reloading the config")))
		st.status, st.statusAt = "reloading the config", time.Now()
	}
	if st.awaitReady {
		return n.reloaded(ctx, st, src, p)
	}
	if !st.readySent {
		return n.startUp(ctx, st, src, p)
	}
	return n.statusUpdate(ctx, st, src)
}

// reloaded sends the READY=1 that ends the RELOADING=1 sent (or, after
// an upgrade, the old image's) once no reload is in flight, whatever the
// watchers' readiness: STATUS= says what is not ready.
func (n *Notifier) reloaded(ctx context.Context, st *state, src Source, p pending) time.Duration {
	if p.inFlight > 0 {
		return time.Hour // the reload's end wakes Run
	}
	if wait := time.Until(st.retryAt); wait > 0 {
		return wait
	}
	line := n.look(ctx, st, src)
	if st.c.send(n.log, message("READY=1", status(line))) != nil {
		return st.failed()
	}
	st.awaitReady, st.announced, st.retry = false, p.begun, 0 // overlapping reloads: one READY=1
	st.status, st.statusAt = line, time.Now()
	if st.upgradeOwed {
		st.upgradeOwed = false
		n.log.Info("told the service manager the upgrade is done", "status", line)
	}
	return time.Hour
}

// startUp sends the first READY=1 once every autostart watcher is ready
// and no reload is under way; until then it keeps STATUS= current.
func (n *Notifier) startUp(ctx context.Context, st *state, src Source, p pending) time.Duration {
	if wait := max(time.Until(st.lookedAt.Add(lookGap)), time.Until(st.retryAt)); wait > 0 {
		return wait
	}
	s, err := n.snapshot(ctx, st, src)
	if err != nil {
		return startLook
	}
	line := Summary(s)
	if p.inFlight == 0 && !s.Stopping && len(notReady(s)) == 0 {
		if st.c.send(n.log, message("READY=1", status(line))) != nil {
			return st.failed()
		}
		st.readySent, st.announced, st.retry = true, p.begun, 0
		st.status, st.statusAt = line, time.Now()
		n.told.Store(true)
		n.log.Info("told the service manager poold is ready", "status", line)
		return time.Hour
	}
	n.sendStatus(st, line)
	return startLook
}

// statusUpdate sends STATUS= when the summary changed, at most once per
// StatusEvery.
func (n *Notifier) statusUpdate(ctx context.Context, st *state, src Source) time.Duration {
	if !st.dirty {
		return time.Hour
	}
	if wait := time.Until(st.statusAt.Add(n.opts.StatusEvery)); wait > 0 {
		return wait
	}
	if wait := time.Until(st.lookedAt.Add(lookGap)); wait > 0 {
		return wait
	}
	s, err := n.snapshot(ctx, st, src)
	if err != nil {
		return time.Hour // stopped: nothing more to say
	}
	n.sendStatus(st, Summary(s))
	return time.Hour
}

func (n *Notifier) sendStatus(st *state, line string) {
	if line == st.status {
		return
	}
	if time.Since(st.statusAt) < n.opts.StatusEvery {
		st.dirty = true // sent when due
		return
	}
	st.c.send(n.log, status(line))
	st.status, st.statusAt = line, time.Now()
}

// look is the summary now, or the last one sent when the loop does not
// answer.
func (n *Notifier) look(ctx context.Context, st *state, src Source) string {
	s, err := n.snapshot(ctx, st, src)
	if err != nil {
		return st.status
	}
	return Summary(s)
}

func (n *Notifier) snapshot(ctx context.Context, st *state, src Source) (s snapshot, err error) {
	ctx, cancel := context.WithTimeout(ctx, lookTimeout)
	defer cancel()
	st.dirty = false
	st.lookedAt = time.Now()
	return src.Snapshot(ctx)
}

// runWatchdog sends WATCHDOG=1 every half Watchdog until ctx is done.
// The first goes as soon as the loop answers, not half a WatchdogSec
// after the start: after an in-place upgrade the old image's last one
// may be nearly that old already (see Reloading).
func (n *Notifier) runWatchdog(ctx context.Context, src Source) {
	c := &conn{addr: n.opts.Socket, failing: &n.failing}
	defer c.close()
	t := time.NewTicker(n.opts.Watchdog / 2)
	defer t.Stop()
	for {
		n.watchdog(ctx, c, src)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchdog sends WATCHDOG=1 if the arbiter's loop answers in time or is
// busy (arbiter.Live: working, or in one step younger than its
// StuckAfter, as /healthz decides): only a stuck loop goes without, and
// the warning names the step it is stuck in (arbiter.StuckError).
func (n *Notifier) watchdog(ctx context.Context, c *conn, src Source) {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Watchdog/4)
	defer cancel()
	err := src.Live(ctx)
	if err != nil && !errors.Is(err, arbiter.ErrBusy) {
		if !errors.Is(ctx.Err(), context.Canceled) { // not Run's own end
			n.log.Warn("no WATCHDOG=1: the event loop is stuck (it did not answer and did no work meanwhile)", "error", err)
		}
		return
	}
	c.send(n.log, "WATCHDOG=1")
}

// finish sends the STOPPING=1 that a stop told just before Run ended.
func (n *Notifier) finish(st *state) {
	if n.pending().stopping && !st.stoppingSent {
		st.c.send(n.log, message("STOPPING=1", status("stopping every watcher")))
		st.stoppingSent = true
	}
}
