package arbiter

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
	"golang.org/x/sys/unix"
)

// In-place upgrade, the new image's side: Run takes over the sockets, the
// cgroup tree and the workers the previous image handed over
// (Options.Adopt) instead of binding and starting.

// adoptSockets takes the listening sockets, the cgroup tree and the notify
// directory over; it runs where Run would bind.
func (a *Arbiter) adoptSockets(st *upgrade.State) (*sockets.Set, error) {
	a.notifyDir = st.NotifyDir
	if c := st.Cgroups; c != nil {
		t, err := cgroup.AdoptTree(c.Dir, c.LockFD)
		if err != nil {
			a.log.Error("upgrade: cgroup tree not taken over; workers are contained by process group only", "error", err)
		} else {
			a.tree = t
			a.contained.Store(true)
			a.containment = "cgroup " + t.Dir
			t.RemoveParked(slices.Collect(maps.Values(c.Groups)))
		}
	} else {
		a.containment = "process group"
	}
	return sockets.Adopt(st.Sockets)
}

// adoptWorkers watches every handed-over worker (before the orphan
// reaper runs), follows its output pipes and gives it back to its
// watcher, then publishes arbiter.upgrade. A worker that died during the
// exec is a zombie until its Wait reaps it: its exit is reported as any
// other and its slot refilled.
func (a *Arbiter) adoptWorkers(st *upgrade.State) {
	pipes := map[int]upgrade.Pipes{}
	for _, p := range st.Pipes {
		pipes[p.Pid] = p
	}
	a.output.adoptLogs(st.Logs, st.LogEpoch, func(name string) (int, bool) {
		if w := a.watchers[strings.ToLower(name)]; w != nil {
			return w.Spec().Logs.Ring, true
		}
		return 0, false
	})
	st.Logs = nil // the rings hold what they keep; the state lives on
	for _, ws := range st.Watchers {
		w := a.watchers[strings.ToLower(ws.Spec.Name)]
		if w == nil {
			a.log.Error("upgrade: a handed-over watcher is missing", "watcher", ws.Spec.Name)
			continue
		}
		for _, ps := range ws.Procs {
			a.adoptWorker(w, ps, pipes, st.Cgroups)
		}
		if f, ok := a.filed[strings.ToLower(ws.Spec.Name)]; ok && ws.Configured == nil {
			// An image that did not keep an elastic pool's configured
			// numprocesses apart from its size: the file's, as last read.
			n := f.NumProcesses
			ws.Configured = &n
		}
		if err := w.Adopt(ws); err != nil {
			a.log.Error("upgrade: watcher not taken over", "watcher", ws.Spec.Name, "error", err)
		}
		if g, ok := st.ArgsGiven[ws.Spec.Name]; ok {
			if a.argsGiven == nil {
				a.argsGiven = map[*watcher.Watcher]givenArgs{}
			}
			a.argsGiven[w] = g
		}
		a.resumeStops(ws)
	}
	if !st.Started.IsZero() {
		a.started = st.Started // poold's uptime goes on
	}
	if r := st.Reload; r != nil { // a failed reload is not forgotten
		a.config = ConfigState{LastReloadOK: r.OK, LastSuccess: r.LastSuccess, LastError: r.Error}
	}
	if st.BootTime > 0 {
		a.opts.Stats.SetBootTime(st.BootTime) // start times stay put if the clock was stepped
	}
	out := st.Outcome
	out.TookOver = time.Now()
	a.upgraded = out
	a.bus.Publish("", events.KindUpgrade, map[string]any{"pid": os.Getpid(), "old_version": out.OldVersion,
		"new_version": out.NewVersion, "outcome": out.State, "reason": out.Reason})
	a.log.Info("upgrade: took over", "outcome", out.State, "old_version", out.OldVersion, "new_version", out.NewVersion,
		"watchers", len(st.Watchers), "sockets", len(st.Sockets), "reason", out.Reason)
}

// adoptWorker takes on ps, a worker of w the old image handed over: its
// exit, its output pipes (from pipes), its cgroup (from cg, if any) and
// its strays.
func (a *Arbiter) adoptWorker(w *watcher.Watcher, ps watcher.ProcState, pipes map[int]upgrade.Pipes, cg *upgrade.Cgroups) {
	p, err := a.spawner.Adopt(ps.Pid)
	if err != nil {
		// The old image reaped it just before the exec: it has
		// ended, how is unknown. Its exit goes the usual way
		// (what it left in its cgroup stopped first), so a stop
		// of it completes.
		a.log.Warn("upgrade: a handed-over worker had ended before the exec; taken as ended", "watcher", w.Spec().Name, "pid", ps.Pid, "error", err)
		p = spawn.Lost(ps.Pid, fmt.Errorf("%w: %w", errEndedBeforeExec, err))
	}
	if pp, ok := pipes[ps.Pid]; ok {
		out, errf := pipeFile(pp.Stdout), pipeFile(pp.Stderr)
		a.output.keep(out, pp.StdoutPending)
		a.output.keep(errf, pp.StderrPending)
		a.output.follow(w.Spec(), ps.Wid, ps.Pid, out, errf)
	}
	a.owner[ps.Pid] = w
	var g *cgroup.Group
	if cg != nil && a.tree != nil {
		if dir, ok := cg.Groups[ps.Pid]; ok {
			g = a.tree.AdoptGroup(cgroup.Adopted{Dir: dir, Watcher: w.Name(), Wid: ps.Wid, Limits: limitsOf(w.Spec()),
				OOMBase: cg.OOMBase[ps.Pid], PidsBase: cg.PidsBase[ps.Pid], Killed: slices.Contains(cg.Killed, ps.Pid)})
			a.groups[ps.Pid] = g
			a.tookOn(ps.Pid, g)
		}
	}
	// A worker's start, for its strays: 0 (none told
	// apart) if it has ended already.
	since, _ := procinfo.StartTicks(ps.Pid)
	a.watchExit(w, strayOwner{workerKey{w.Spec().Name, ps.Wid}, since}, p, g)
}

// pipeFile opens an inherited pipe fd (-1: none, /dev/null instead).
func pipeFile(fd int) *os.File {
	if fd < 0 {
		f, _ := os.Open(os.DevNull)
		return f
	}
	// Non-blocking before NewFile, which then parks its reads in the
	// netpoller (read deadlines work: the next upgrade needs them).
	_ = unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), "worker pipe")
}

// resumeStops records, for each worker of ws the old image was stopping
// (Adopt armed its deadline), the stop signal it sent and to whom, as
// host.Signal would have: what the worker leaves when it ends gets that
// signal then (treestop.go), rather than only the SIGKILL at its
// deadline. The state does not say which signal a kill with one of its
// own sent; the watcher's stop_signal stands for it.
func (a *Arbiter) resumeStops(ws watcher.State) {
	for _, ps := range ws.Procs {
		if ps.State == watcher.ProcStopping && !ps.Killed {
			a.stops.signalled(ps.Pid, ws.Spec.StopSignal, !ws.Spec.StopChildren)
		}
	}
}
