package arbiter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// host is the arbiter as the watchers see it.
type host struct{ a *Arbiter }

func (h host) Now() time.Time { return time.Now() }

// Spawn prepares wid's worker (output pipes, cgroup) and hands it to the
// spawner's thread, returning once that has taken it up; finish waits for
// the fork, then takes the worker on, or cleans up after a failed start.
func (h host) Spawn(w *watcher.Watcher, wid int, spec spawn.ProcSpec) func() (int, error) {
	logs := w.Spec().Logs
	kept := keepsOutput(logs)
	fail := func(err error) func() (int, error) {
		return func() (int, error) { return 0, explainNofile(err, logs, h.a.opts.ControlConns) }
	}
	a := h.a
	if a.stopping {
		return fail(errors.New("poold is stopping"))
	}
	if err := a.fds.allow(w.Name(), h.Now()); err != nil {
		return func() (int, error) { return 0, err }
	}
	var out *workerPipes
	if kept {
		var err error
		if out, err = newWorkerPipes(); err != nil {
			return fail(err)
		}
		spec.Stdout, spec.Stderr = out.outW, out.errW
	}
	made := a.steps.within(loopStep{name: "cgroup of a new worker", watcher: w.Name(), wid: wid}, a.log)
	g, err := a.newGroup(w, wid)
	made()
	if err != nil {
		out.close()
		return fail(err)
	}
	spec.Cgroup = g
	since := procinfo.BootTicks() // before the fork: what it starts, it starts after
	pending := a.spawner.Begin(spec)
	return func() (int, error) {
		// The spawner's thread forks, moves the worker into its v1
		// cgroups and waits for its exec: a step of the loop's own.
		done := a.steps.within(loopStep{name: "spawn", watcher: w.Name(), wid: wid, detail: spec.Path}, a.log)
		if a.opts.holdSpawn != nil {
			a.opts.holdSpawn()
		}
		p, err := pending.Wait()
		done()
		if err != nil {
			if g != nil {
				_ = g.Remove()
			}
			out.close()
			return 0, a.explainPids(explainNofile(err, logs, a.opts.ControlConns))
		}
		h.started(w, strayOwner{workerKey{w.Spec().Name, wid}, since}, p, g, out)
		return p.Pid, nil
	}
}

// started takes on a worker the spawner has started in g, its output on
// out (nil when nothing keeps it); o names it to its strays.
func (h host) started(w *watcher.Watcher, o strayOwner, p *spawn.Proc, g *cgroup.Group, out *workerPipes) {
	wid := o.wid
	a := h.a
	// The clone has entered the cgroup: its directory fd is done with
	// (kept, it would cost one fd per worker).
	g.CloseFD()
	if out != nil {
		out.closeWrite()
		a.output.followAttempt(w.Spec(), wid, p.Pid, out.outR, out.errR, w.AttemptOf(wid))
	}
	a.reused(p.Pid)
	a.owner[p.Pid] = w
	if g != nil {
		a.groups[p.Pid] = g
		a.tookOn(p.Pid, g)
	}
	a.watchExit(w, o, p, g)
}

// reused handles a new worker's pid that the kernel took from a worker
// whose exit is still on its way (its cgroup emptying). That worker was
// reaped: it ends now for its watcher (right after this message), so
// that nothing armed for it, such as a stop's SIGKILL at
// graceful_timeout, reaches the new one; its exit, when it comes, finds
// nothing left to end.
func (a *Arbiter) reused(pid int) {
	old, ow := a.procs[pid], a.owner[pid]
	if old == nil {
		return
	}
	a.log.Debug("the kernel reused the pid of a worker whose exit is being handled", "pid", pid)
	a.stops.drop(pid) // its deadline must not apply to the new one
	ex, err, ok := old.Reaped()
	if ow == nil || !ok {
		return
	}
	if err != nil {
		a.log.Warn("lost the exit status of a worker whose pid the kernel gave to a new one", "watcher", ow.Name(), "pid", pid, "error", err)
		ex = spawn.Exit{Code: -1}
	}
	e := exitMsg{pid: pid, proc: old, owner: ow, end: watcher.End{Exit: ex}}
	a.waits.Add(1)
	go func() { // the loop cannot post to itself without a goroutine
		defer a.waits.Done()
		a.post(funcMsg{func() { a.endedEarlier(e) }})
	}()
}

// explainNofile adds to an error of running out of fds (EMFILE, from the
// pipes or the fork) what poold's limit is and what each worker of a
// watcher with logs costs, and how many fds connections to poold's
// listeners (control, events, stats, console, metrics) hold when they hold
// a tenth of the limit or more (control may be nil).
func explainNofile(err error, logs configs.WorkerLogs, control func() (int, string)) error {
	if !errors.Is(err, syscall.EMFILE) {
		return err
	}
	var rl syscall.Rlimit
	limit := "?"
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		limit = strconv.FormatUint(rl.Cur, 10)
	}
	if control != nil {
		if n, peers := control(); n > 0 && uint64(n)*10 >= rl.Cur {
			return fmt.Errorf("%w (poold's open-file limit, RLIMIT_NOFILE %s, is used up, %d of its fds by connections to its listeners (%s): "+
				"find what holds them with ss -xp and ss -tnp and stop it; each worker of this watcher holds %s in poold)",
				err, limit, n, peers, workerFds(logs))
		}
	}
	return fmt.Errorf("%w (poold's open-file limit, RLIMIT_NOFILE %s, is used up: each worker of this watcher holds %s in poold; "+
		"raise it: ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=)", err, limit, workerFds(logs))
}

// workerFds says how many fds poold holds for each worker of a watcher
// with logs: its output pipes, and its own log file where the path has
// $(pool.wid) in it (a file shared by the watcher's workers is one fd).
func workerFds(logs configs.WorkerLogs) string {
	switch fdsPerWorker(logs) {
	case 0:
		return "no fd once started (its output goes nowhere), but poold's own fds and one per worker being started"
	case 2:
		return "2 fds (its output pipes; none with stdout_log and stderr_log \"none\" and log_ring 0)"
	case 3:
		return "3 fds (its output pipes, and its own log file: the path has $(pool.wid))"
	}
	return "4 fds (its output pipes, and its own stdout and stderr log files: the paths have $(pool.wid))"
}

// keepsOutput tells whether anything keeps what a watcher's workers write:
// a sink other than "none", or the ring. When nothing does, the workers
// write to /dev/null, and poold holds no pipe and no reader goroutine for
// them (two fds and two goroutines per worker: at 10,000 workers, 20,000
// of each).
func keepsOutput(l configs.WorkerLogs) bool {
	return l.Ring > 0 || l.Stdout != configs.LogToNone || l.Stderr != configs.LogToNone
}

// workerPipes are a worker's stdout and stderr pipes.
type workerPipes struct{ outR, outW, errR, errW *os.File }

func newWorkerPipes() (*workerPipes, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	return &workerPipes{outR, outW, errR, errW}, nil
}

// closeWrite closes poold's copy of the write ends.
func (p *workerPipes) closeWrite() {
	p.outW.Close()
	p.errW.Close()
}

// close closes all four ends of a start that failed (nil-safe).
func (p *workerPipes) close() {
	if p == nil {
		return
	}
	p.closeWrite()
	p.outR.Close()
	p.errR.Close()
}

// watchExit posts p's exit to the loop, once its cgroup g (if any) is
// empty too. Nothing waits while p lives: once the spawner has reaped it,
// a goroutine cleans g up (parked in the netpoller on an inotify fd of g
// if the worker left something, holding no OS thread) and posts the
// exit (and then, for a worker killed by a signal, ends what it left:
// leftdrain.go). Run waits for it. Until then o, the worker as its strays name it,
// counts as running, and its process group as a worker's (strays.go).
func (a *Arbiter) watchExit(w *watcher.Watcher, o strayOwner, p *spawn.Proc, g *cgroup.Group) {
	a.procs[p.Pid] = p
	a.strays.add(o)
	a.strays.hold(p.Pid)
	a.waits.Add(1)
	stop := a.leftStopFor(w) // as its watcher's spec is at its end (leftstopnow.go)
	p.OnExit(func(ex spawn.Exit, err error) {
		go func() {
			defer a.waits.Done()
			if err != nil {
				ex = spawn.Exit{Code: -1}
				if !errors.Is(err, errEndedBeforeExec) { // else adopt warned of it
					a.log.Error("lost track of a worker", "pid", p.Pid, "error", err)
				}
			}
			end, rest := a.ended(o, p.Pid, g, ex, *stop.Load())
			a.strays.remove(o)
			if rest == nil {
				a.strays.release(p.Pid)
			}
			a.post(exitMsg{pid: p.Pid, proc: p, owner: w, end: end})
			if rest != nil { // what a worker killed by a signal left (leftdrain.go)
				rest()
				a.strays.release(p.Pid)
			}
		}()
	})
}

// errEndedBeforeExec marks a handed-over worker the new image takes as
// ended: the old one reaped it just before the exec, and its adoption
// already said so.
var errEndedBeforeExec = errors.New("ended before the upgrade's exec")

// exitBurst bounds the exits handled before their watchers settle.
const exitBurst = 256

// exits handles first and the exits queued behind it (up to exitBurst),
// then settles each watcher they belong to once: 100 workers killed at
// once among 10,000 cost one count of the pool, not 100. A message of
// another kind ends the burst; it is handled after the settles, so it
// sees every watcher settled, as always.
func (a *Arbiter) exits(first exitMsg) {
	var held []*watcher.Watcher
	var next any = first
	for n := 0; next != nil; n++ {
		e, ok := next.(exitMsg)
		if !ok {
			break
		}
		if w := a.ownerOf(e); w != nil && !slices.Contains(held, w) {
			w.HoldSettle()
			held = append(held, w)
		}
		a.handle(e)
		next = nil
		if n+1 < exitBurst {
			select {
			case m := <-a.inbox:
				next = m
			default:
			}
		}
	}
	for _, w := range held {
		w.ReleaseSettle()
	}
	if next != nil {
		a.handle(next)
	}
}

// endedEarlier hands on the exit of a process whose pid the kernel gave
// a newer worker while the exit was on its way (its cgroup being
// emptied): the newer worker's records stay.
func (a *Arbiter) endedEarlier(e exitMsg) {
	switch w := e.owner; {
	case a.byID[w.ID()] != w: // removed since
	case a.owner[e.pid] == w:
		w.EndedEarlier(e.pid, e.end)
	default: // the newer worker is another watcher's
		w.Ended(e.pid, e.end)
	}
}

// ownerOf is the watcher e's exit goes to, nil if none.
func (a *Arbiter) ownerOf(e exitMsg) *watcher.Watcher {
	if a.procs[e.pid] == e.proc {
		return a.owner[e.pid]
	}
	if a.byID[e.owner.ID()] == e.owner {
		return e.owner
	}
	return nil
}

func (h host) Signal(pid int, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		h.a.leftAtKill(pid)
		if h.a.killGroup(pid) {
			return nil
		}
	}
	if sig == syscall.SIGCONT {
		h.a.thaw(pid) // frozen.go
	}
	var sweep *bootSweeper
	if h.a.stops.signalled(pid, sig, false) {
		sweep = h.a.bootSweepFor(pid, sig, false) // bootstop.go
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		sweep.drop()
		if errors.Is(err, syscall.ESRCH) {
			// The group leader may have moved itself out; signal the pid.
			return syscall.Kill(pid, sig)
		}
		return err
	}
	sweep.run()
	return nil
}

func (h host) SignalProcess(pid int, sig syscall.Signal) error {
	var sweep *bootSweeper
	if h.a.stops.signalled(pid, sig, true) {
		// Readied before the signal: what the worker has then ran before.
		sweep = h.a.bootSweepFor(pid, sig, true)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		sweep.drop()
		return err
	}
	sweep.run()
	return nil
}

func (h host) After(d time.Duration, t watcher.Timer) {
	a := h.a
	if t.Kind == watcher.TimerMore && d == 0 {
		a.queueMore(t) // spawnturn.go
		return
	}
	if t.Kind == watcher.TimerKill {
		// A stop's deadline, also for what the worker leaves (treestop.go).
		a.stops.set(t.Pid, time.Now().Add(d))
	}
	time.AfterFunc(d, func() { a.post(timerMsg{t}) })
}

func (h host) Check(c watcher.Check, timeout time.Duration, fn func(ctx context.Context) error) func() {
	a := h.a
	ctx, cancel := context.WithTimeout(a.runCtx, timeout)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer cancel()
		err := fn(ctx)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && a.runCtx.Err() == nil {
			err = fmt.Errorf("%w (gave up after %v)", err, timeout)
		}
		a.post(checkMsg{c, err})
	}()
	return cancel
}

func (h host) Publish(name string, kind events.Kind, fields map[string]any) {
	h.a.work.Add(1) // a worker started, signalled or reaped: see Live
	if kind == events.KindUpdated {
		h.a.renewLeftStops() // a watcher's spec changed (leftstopnow.go)
	}
	h.a.watcherFailed(name, kind, fields) // failure_action = "exit"
	if h.a.quiet(name, kind) {
		return
	}
	h.a.bus.Publish(name, kind, fields)
}
