package arbiter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// Containment. Where poold can make cgroups (root, or a delegated
// subtree), every worker runs in a cgroup of its own, entered by the clone
// that starts it: a stop that ends in cgroup.kill leaves nothing, however
// the worker's descendants forked or left their session, and a worker's
// exit reaches its watcher only once its cgroup is empty. Per worker
// rather than per watcher: an OOM kill, a limit and a kill are then about
// exactly one worker and what it started, also during a rolling reload
// where old and new workers of one watcher overlap. Elsewhere each worker
// has its own process group, as before, and descendants that leave it can
// outlive a stop; the log at start and the status command say which one
// is in force.

// emptyGrace bounds the wait for a worker's cgroup to empty after
// cgroup.kill (a process stuck in the kernel, D state, delays it).
const emptyGrace = 10 * time.Second

// treeSeq tells apart the trees of arbiters without a config file run by
// one process (tests).
var treeSeq atomic.Uint64

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// treeName names poold's cgroup tree after its config file, so a poold
// started again on the same config finds what a killed one left, also
// through another path to the same file (a symlink): the name hashes the
// file's absolute path with every symlink resolved, which for a path
// without symlinks is its absolute path, as before.
func treeName(path string) string {
	if path == "" {
		return fmt.Sprintf("%spid%d-%d", cgroup.TreePrefix, os.Getpid(), treeSeq.Add(1))
	}
	path = launch.ConfigPath(path)
	sum := sha256.Sum256([]byte(path))
	base := unsafeName.ReplaceAllString(filepath.Base(path), "_")
	return cgroup.TreePrefix + base + "-" + hex.EncodeToString(sum[:4])
}

// openTree sets up containment; it runs before the sockets are bound, so
// a leftover of a killed poold that still holds a port is gone first.
// Its error, a start-up error, is another poold running the same config:
// without cgroups poold runs with process groups only, but that one would
// run every worker a second time, in process groups whose strays outlive
// its stop. (An upgrade's new image takes the tree over, adopt.go, and
// does not come here.)
func (a *Arbiter) openTree() error {
	if a.opts.NoCgroups {
		a.containment = "process group (cgroups turned off)"
		a.warnUnenforced()
		return nil
	}
	t, left, err := cgroup.Open(treeName(a.cfg.Path), emptyGrace)
	if errors.Is(err, cgroup.ErrInUse) {
		return fmt.Errorf("arbiter: config %s: %w", a.cfg.Path, err)
	}
	if err != nil {
		a.containment = "process group (" + err.Error() + ")"
		a.log.Warn("containment: process groups only; descendants that leave a worker's process group can outlive a stop", "why", err)
		a.warnUnenforced()
		return nil
	}
	a.tree = t
	a.contained.Store(true)
	a.containment = "cgroup " + t.Dir
	a.log.Info("containment: a cgroup per worker", "cgroup", t.Dir)
	if left.Cgroups > 0 {
		a.log.Warn("killed and removed what a previous poold of this config left in its cgroups",
			"cgroups", left.Cgroups, "pids", left.Pids)
	}
	return nil
}

// notePidsLimit, under a pids limit of poold's own cgroups (docker
// --pids-limit, systemd TasksMax=), says once how it divides: poold's
// threads, the pids it keeps free for more of them, and what that leaves
// for workers. A limit too tight for the workers the config starts would
// otherwise show only as their failed starts. Called on the loop's first
// tick: poold's threads grow as it starts serving (9 at the spawner's
// start, 15 to 17 some seconds later with GOMAXPROCS 2).
func (a *Arbiter) notePidsLimit() {
	if a.pidsNoted || a.stopping {
		return
	}
	a.pidsNoted = true
	b, ok := spawn.PidsLimit()
	if !ok {
		return
	}
	workers := 0
	for _, spec := range a.cfg.Watchers {
		if spec.Autostart {
			workers += spec.NumProcesses
		}
	}
	logPidsLimit(a.log, b, workers)
}

// logPidsLimit says how the pids limit b divides, and warns when it
// leaves fewer pids than the config starts workers.
func logPidsLimit(log hclog.Logger, b spawn.PidsBudget, workers int) {
	kv := []any{"pids_max", b.Max, "poold_threads", b.Poold, "keeps_free", b.Kept, "left_for_workers", b.Left,
		"workers", workers, "in_use", b.InUse, "cgroup", b.Cgroup}
	if b.Left < workers {
		log.Warn("pids limit leaves fewer pids than the config starts workers, so some cannot start: "+
			"raise pids.max (docker --pids-limit, TasksMax=) to poold_threads + keeps_free + what the workers, "+
			"their children and their threads need", kv...)
		return
	}
	log.Info("pids limit: poold's threads and the pids it keeps free for more leave the rest for workers, "+
		"their children and their threads", kv...)
}

// checkProc warns when the /proc poold reads is not its own pid
// namespace's (unshare --pid --fork without --mount-proc): a worker's pid
// there is another process, so readiness spawn never sees a worker wait
// for connections and gives up after its 10 s, and stats, exit reasons
// and the oom_score_adj guard read or write the wrong processes.
func (a *Arbiter) checkProc() {
	if err := procinfo.ForeignProc(); err != nil {
		a.foreignProc = true
		a.log.Warn("poold cannot read its workers in /proc: readiness spawn waits its 10 s for every worker, stats and exit reasons are wrong; "+
			"mount a /proc for poold's pid namespace (unshare --mount-proc, or a container's /proc)", "error", err)
	}
}

// closeTree removes poold's cgroup tree once every worker is gone.
func (a *Arbiter) closeTree() {
	if a.tree == nil {
		return
	}
	if err := a.tree.Close(); err != nil {
		a.log.Warn("could not remove poold's cgroup", "cgroup", a.tree.Dir, "error", err)
	}
}

// newGroup makes the cgroup of a worker about to start, nil without
// containment.
func (a *Arbiter) newGroup(w *watcher.Watcher, wid int) (*cgroup.Group, error) {
	if a.tree == nil {
		return nil, unenforced(w.Spec(), a.containment)
	}
	g, err := a.tree.NewGroup(w.Name(), wid, limitsOf(w.Spec()))
	if leaf := a.tree.Moved(); leaf != "" && !a.movedLogged {
		a.movedLogged = true
		a.log.Info("moved poold's own processes into a cgroup of their own, so that poold's cgroup can pass limits down to the workers' (cgroup v2 lets no cgroup with processes of its own do that)",
			"cgroup", leaf)
	}
	return g, err
}

// unenforced is the error for limits a worker would run without, poold
// having no cgroups (containment says why): a memory_max nobody enforces
// is worse than a worker that does not start. nil without limits.
func unenforced(s configs.Watcher, containment string) error {
	keys := setLimits(s, nil)
	if len(keys) == 0 {
		return nil
	}
	return fmt.Errorf("%s cannot be enforced: poold has no cgroups (containment: %s); give poold a cgroup it may write to (README \"Containment\"), or remove %s from watcher %q",
		strings.Join(keys, ", "), containment, strings.Join(keys, ", "), s.Name)
}

func limitsOf(s configs.Watcher) cgroup.Limits {
	return cgroup.Limits{MemoryMax: s.MemoryMax, PidsMax: s.PidsMax, CPUMax: s.CPUMax}
}

// cgroupCleanups is how many exited workers' cgroups are cleaned up at
// once: as many as poold has CPUs to spare is plenty (a clean-up takes
// well under a millisecond), and a burst of 100 exits then costs poold
// two more threads, not a hundred that stay parked afterwards.
const cgroupCleanups = 2

// ended waits, off the loop, until a reaped worker's cgroup (or, without
// one, its process group) is empty: what a worker being stopped left gets
// the rest of its graceful_timeout, what any other worker left is killed
// at once (treestop.go), but for what a worker killed by a signal left:
// rest, run once the end is posted, stops that (leftdrain.go, and
// leftgroup.go without a cgroup).
// It reads the OOM kills and parks the cgroup for the slot's next worker,
// or removes it (one that would not empty, or was killed: see
// cgroup.Park).
func (a *Arbiter) ended(o strayOwner, pid int, g *cgroup.Group, ex spawn.Exit, s leftStop) (watcher.End, func()) {
	end, rest := a.emptied(o, pid, g, ex, s)
	switch {
	case end.OOM > 0 && end.OOMAbove:
		// A limit above its own cgroup's: name poold's cgroup when it
		// has one (the container's), which may count the kill too (v2).
		if end.OuterOOM = a.outer.Claim(); end.OuterOOM != "" {
			a.outer.Consume(end.OOM - 1)
		} else if l := a.outer.Limited(); l != "" {
			end.OuterOOM = "poold's cgroup " + l
			a.outer.Consume(end.OOM)
		}
	case end.OOM > 0:
		// Its own memory_max: not the container's kill to claim, and
		// one that poold's cgroup may count too (v2).
		a.outer.Consume(end.OOM)
	case ex.Signal == syscall.SIGKILL:
		// A container's memory limit kills a worker without a
		// memory_max of its own: its own cgroup counts nothing.
		end.OuterOOM = a.outer.Claim()
	}
	return end, rest
}

// emptied is ended but for the OOM killer of poold's own cgroup: what
// the worker left in its cgroup is stopped, drained or killed, and the
// cgroup's counts read; without a cgroup, groupEmptied.
func (a *Arbiter) emptied(o strayOwner, pid int, g *cgroup.Group, ex spawn.Exit, s leftStop) (watcher.End, func()) {
	if g == nil {
		return a.groupEmptied(o, pid, ex, s)
	}
	end := watcher.End{Exit: ex}
	until, stopping := a.stops.get(pid)
	var full, draining bool
	a.cgroupStep(func() {
		if full, _ = g.Populated(); full {
			left := g.Pids()
			end.Left = len(procinfo.LeftRunning(left))
			switch {
			case stopping:
				sig, alone := a.stops.signal(pid)
				signalLeft(pid, a.stops.untold(pid, left), sig, alone)
			case ex.Signal != 0 && end.Left > 0 && s.sig != 0:
				draining = true // leftdrain.go
				a.drainStart(pid, g, left, s, &end)
			default:
				end.LeftKilled = true
				a.killLeft(pid, g)
			}
		}
	})
	if draining {
		left := end.Left
		return end, func() { a.drainRest(o, pid, g, s, left) }
	}
	// Only when the worker left something: the wait is in the netpoller
	// (inotify), with no clean-up slot held.
	empty := true
	if full {
		var killed bool
		empty, killed = a.waitLeft(pid, g, stopping, until)
		end.LeftKilled = end.LeftKilled || killed
	}
	if n, ok := a.stops.killedLeft(pid); ok {
		end.Left, end.LeftKilled = n, n > 0
	}
	a.cgroupStep(func() {
		end.OOM = g.OOMKills()
		end.PidsRefused = g.PidsRefused()
		if hits, ok := g.MemoryLimitHits(); ok && end.OOM > 0 {
			end.OOMAbove = hits == 0
		}
		remove := g.Remove
		if empty {
			remove = func() error { return a.tree.Park(g) } // for the slot's next worker
		}
		if err := remove(); err != nil {
			a.log.Warn("could not remove a worker's cgroup", "pid", pid, "error", err)
		}
	})
	return end, nil
}

// groupEmptied is emptied for a worker without a cgroup: what it left is
// what is left of its process group (drained as in a cgroup when a signal
// ended it, leftgroup.go), and its strays (strays.go), o's.
func (a *Arbiter) groupEmptied(o strayOwner, pid int, ex spawn.Exit, s leftStop) (watcher.End, func()) {
	end := watcher.End{Exit: ex}
	strays := a.beginStrays(o, pid)
	var rest func()
	if d := a.groupDrainOf(o, pid, ex, s); d != nil { // leftgroup.go
		a.groupDrainStart(pid, d, s, &end)
		left := end.Left
		rest = func() { a.groupDrainRest(o, pid, d, s, left) }
	} else {
		end.Left, end.LeftKilled = a.groupEnded(pid)
	}
	n, killed := strays.finish()
	end.Left += n
	end.LeftKilled = end.LeftKilled || killed
	return end, rest
}

// waitLeft waits until g, the cgroup of pid that ended and left
// processes, is empty: up to the stop's deadline until when a stopped
// worker's leftovers may finish, then after a kill for emptyGrace. It
// says whether g emptied, and whether it killed them at the deadline.
func (a *Arbiter) waitLeft(pid int, g *cgroup.Group, stopping bool, until time.Time) (empty, killed bool) {
	if stopping {
		if g.WaitEmpty(max(time.Until(until), 0)) == nil {
			return true, false
		}
		// The watcher's kill timer does too, at the same deadline; the
		// first of the two kills.
		killed = true
		a.stops.killing(pid, func() int { return len(procinfo.Running(g.Pids())) })
		a.killLeft(pid, g)
	}
	if err := g.WaitEmpty(emptyGrace); err != nil {
		a.log.Error("a worker's cgroup did not empty; poold will sweep it at its next start", "pid", pid, "cgroup", g.Dir, "error", err)
		return false, killed
	}
	return true, killed
}

func (a *Arbiter) killLeft(pid int, g *cgroup.Group) {
	if err := g.Kill(); err != nil {
		a.log.Error("could not kill what a worker left", "pid", pid, "error", err)
	}
}

// expireParked removes, off the loop, the emptied worker cgroups that no
// new worker of their slot took (cgroup.ParkFor); the loop's safety-net
// tick calls it.
func (a *Arbiter) expireParked() {
	if a.tree == nil || a.tree.Parked() == 0 {
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.cgroupStep(func() { a.tree.Expire(cgroup.ParkFor) })
	}()
}

// cgroupStep runs fn, a few blocking cgroup file operations, in one of
// the cleanups slots.
func (a *Arbiter) cgroupStep(fn func()) {
	a.cleanups <- struct{}{}
	defer func() { <-a.cleanups }()
	fn()
}

// killGroup SIGKILLs everything in pid's cgroup; false when pid has none.
func (a *Arbiter) killGroup(pid int) bool {
	g := a.groups[pid]
	if g == nil {
		return false
	}
	if err := g.Kill(); err != nil {
		a.log.Warn("cgroup.kill failed; killing the process group", "pid", pid, "error", err)
		return false
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return true
}

// reapOrphans runs the orphan reaper when poold was asked to (poold's own
// binary; see spawn.OrphanReaper).
func (a *Arbiter) reapOrphans() {
	if !a.opts.ReapOrphans {
		return
	}
	if err := spawn.BecomeSubreaper(); err != nil {
		a.log.Warn("cannot become the subreaper of workers' orphans; they go to init", "error", err)
	} else {
		a.subreaper.Store(!a.foreignProc)
	}
	reaped := func(o spawn.Orphan) {
		a.log.Debug("reaped an orphan of a worker", "pid", o.Pid, "exit", watcher.DescribeEnd(o.Exit))
	}
	if a.spawner.ReportOrphans(reaped) {
		return // on the main thread, where orphans go: it reaps them
	}
	r := &spawn.OrphanReaper{Reaped: reaped}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		_ = r.Run(a.runCtx)
	}()
}
