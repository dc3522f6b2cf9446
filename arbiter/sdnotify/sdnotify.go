// Package sdnotify tells systemd (or any service manager that speaks its
// notify protocol, sd_notify(3)) how poold is doing, on the datagram
// socket named by $NOTIFY_SOCKET:
//
//	READY=1                 once every autostart watcher is ready (arbiter.NotReady
//	                        says none is missing), and again after each config reload
//	                        and once an upgrade's new image took over (Options.Upgraded)
//	RELOADING=1             when a config reload (SIGHUP, reloadconfig) begins, also
//	MONOTONIC_USEC=...      one that joins another, with the CLOCK_MONOTONIC time it
//	                        began (Type=notify-reload); before an upgrade's exec
//	STOPPING=1              when poold begins to stop every watcher
//	STATUS=...              a one-line summary, "2 watchers, 5/5 workers ready",
//	                        sent with the above and on changes, at most once per
//	                        StatusEvery
//	WATCHDOG=1              every half WATCHDOG_USEC, when the arbiter's loop answers
//
// TakeEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes
// them from poold's environment, so no worker, hook or probe started
// later can inherit poold's socket (workers with readiness "notify" get
// a NOTIFY_SOCKET of their own from the arbiter).
//
// Concurrency: New does no I/O and starts nothing. Run owns its caller's
// goroutine: it reads a bounded event-bus subscription (events only say
// "something changed": a dropped one costs nothing), asks the arbiter for
// Snapshots, and does every socket write but the watchdog's, so the
// arbiter's loop never waits on systemd. With a watchdog, Run starts one
// more goroutine, with a socket of its own, that sends WATCHDOG=1 (a
// Snapshot that waits on a busy loop must not delay it), and waits for it
// before it returns. The Lifecycle methods, called on the loop, only
// record under a small mutex and wake Run.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// Source is what the notifier asks: *arbiter.Arbiter.
type Source interface {
	Snapshot(ctx context.Context) (arbiter.Snapshot, error)
	// Live: nil, arbiter.ErrBusy (working, too busy to answer in
	// time: alive) or why the loop is stuck.
	Live(ctx context.Context) error
}

// Options configure a Notifier.
type Options struct {
	// Socket is $NOTIFY_SOCKET: a path, or "@name" for an abstract socket.
	Socket string
	// Watchdog is WATCHDOG_USEC: WATCHDOG=1 is sent every half of it
	// while the arbiter's loop answers or is busy working. 0: no watchdog.
	Watchdog time.Duration
	// Events is the lifecycle event bus; its events trigger a fresh look
	// at the arbiter. Nil: only the periodic look.
	Events *events.Bus
	// StatusEvery is the least time between two STATUS= updates that
	// only say the numbers changed. Default 1s.
	StatusEvery time.Duration
	// Upgraded is set in the image an in-place upgrade (or its rollback)
	// started. The image before it sent RELOADING=1 just before its exec,
	// and systemd counts poold as reloading until a READY=1: this image
	// sends it once its loop took the workers over (answers a Snapshot),
	// however ready they are, with STATUS= naming what is not, as a config
	// reload does. An upgrade must not hold the unit in "reloading" for a
	// watcher stopped on purpose, flapping or failed: it was so before.
	Upgraded bool
	// StartOwed, with Upgraded: the image before had not sent its first
	// READY=1 (nor RELOADING=1): systemd still counts poold as starting,
	// so this image sends READY=1 once every watcher is ready, as at a
	// start.
	StartOwed bool
	Log       hclog.Logger
}

// Env is what a service manager gave poold.
type Env struct {
	Socket   string        // NOTIFY_SOCKET; "": not run under one
	Watchdog time.Duration // WATCHDOG_USEC, when meant for this pid
}

// TakeEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and unsets
// them. A WATCHDOG_PID of another process leaves the watchdog off, as
// sd_watchdog_enabled(3) does.
func TakeEnv() (Env, error) {
	e := Env{Socket: os.Getenv("NOTIFY_SOCKET")}
	os.Unsetenv("NOTIFY_SOCKET")
	wd, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		return e, fmt.Errorf("systemd watchdog: %w (WATCHDOG_USEC must be a positive number of microseconds)", err)
	}
	e.Watchdog = wd
	return e, nil
}

// Notifier sends poold's state to $NOTIFY_SOCKET; see the package
// documentation. It implements arbiter.Lifecycle.
type Notifier struct {
	opts Options
	log  hclog.Logger
	wake chan struct{} // capacity 1: the Lifecycle methods recorded something

	mu sync.Mutex
	p  pending // guarded by mu

	failing atomic.Bool // see conn
	told    atomic.Bool // the service manager had poold's first READY=1 (see Told)
}

// pending is what the loop told the notifier.
type pending struct {
	begun    int    // config reloads begun
	inFlight int    // begun and not yet ended
	beganAt  uint64 // CLOCK_MONOTONIC µs of the last reload begun
	lastErr  error  // of the last reload ended
	stopping bool
}

// New returns a notifier. It does no I/O and starts nothing.
func New(opts Options) *Notifier {
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = time.Second
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	n := &Notifier{opts: opts, log: opts.Log, wake: make(chan struct{}, 1)}
	n.told.Store(opts.Upgraded && !opts.StartOwed) // the image before told it
	return n
}

// Told reports whether the service manager has had poold's first READY=1,
// from this image or one before it: what the next image of an in-place
// upgrade must know (Options.StartOwed).
func (n *Notifier) Told() bool { return n.told.Load() }

// ReloadBegan implements arbiter.Lifecycle.
func (n *Notifier) ReloadBegan() {
	now := monotonicUsec()
	n.record(func(p *pending) {
		p.begun++
		p.inFlight++
		p.beganAt = now
	})
}

// ReloadEnded implements arbiter.Lifecycle.
func (n *Notifier) ReloadEnded(err error) {
	n.record(func(p *pending) {
		if p.inFlight > 0 {
			p.inFlight--
		}
		p.lastErr = err
	})
}

// Stopping implements arbiter.Lifecycle.
func (n *Notifier) Stopping() { n.record(func(p *pending) { p.stopping = true }) }

func (n *Notifier) record(f func(*pending)) {
	n.mu.Lock()
	f(&n.p)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) pending() pending {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p
}

func monotonicUsec() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
}

// Summary is the STATUS= line for s: how many watchers, how many workers
// of the running ones are ready, and the first reason poold is not ready.
func Summary(s arbiter.Snapshot) string {
	ready, target, left := 0, 0, 0
	for _, w := range s.Watchers {
		for _, p := range w.Processes {
			left++
			if p.State == watcher.ProcReady {
				ready++
			}
		}
		if w.Status != watcher.Stopped {
			target += w.Target
		}
	}
	if s.Stopping {
		return fmt.Sprintf("stopping: %d %s left", left, plural(left, "worker"))
	}
	line := fmt.Sprintf("%d %s, %d/%d workers ready", len(s.Watchers), plural(len(s.Watchers), "watcher"), ready, target)
	if why := arbiter.NotReady(s); len(why) > 0 {
		line += "; " + why[0]
		if len(why) > 1 {
			line += fmt.Sprintf(" (+%d more)", len(why)-1)
		}
	}
	if !s.Config.LastReloadOK {
		line += "; last config reload failed (see the log)"
	}
	return line
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// message joins assignments into one datagram, dropping empty ones.
func message(lines ...string) string {
	var out []string
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func status(line string) string {
	// One line: a newline would start another assignment.
	return "STATUS=" + strings.ReplaceAll(line, "\n", " ")
}

func monotonicField(usec uint64) string {
	return "MONOTONIC_USEC=" + strconv.FormatUint(usec, 10)
}

// conn is the datagram socket to the service manager, dialled on first
// use and again after a failed write. Used by one goroutine only (Run's,
// the watchdog's, or the upgrade's caller); failing is the Notifier's,
// shared by them all.
type conn struct {
	addr    string
	c       *net.UnixConn
	failing *atomic.Bool // the last write of any conn failed: logged once until one succeeds
}

// send writes msg; its error (logged once until a write succeeds) lets
// the caller retry what must arrive (READY=1).
func (c *conn) send(log hclog.Logger, msg string) error {
	if c.c == nil {
		uc, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: c.addr, Net: "unixgram"})
		if err != nil {
			c.fail(log, msg, err)
			return err
		}
		c.c = uc
	}
	// A datagram socket: the write does not wait for systemd to read,
	// only (briefly) for room in its queue.
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.c.Write([]byte(msg)); err != nil {
		c.c.Close()
		c.c = nil
		c.fail(log, msg, err)
		return err
	}
	c.failing.Store(false)
	log.Trace("sent to NOTIFY_SOCKET", "message", msg)
	return nil
}

func (c *conn) fail(log hclog.Logger, msg string, err error) {
	if c.failing.CompareAndSwap(false, true) {
		first, _, _ := strings.Cut(msg, "\n")
		log.Warn("cannot notify the service manager; READY=1 is sent again until it arrives, other messages are not",
			"notify_socket", c.addr, "message", first, "error", err)
	}
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

type snapshot = arbiter.Snapshot

var notReady = arbiter.NotReady
