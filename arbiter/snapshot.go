package arbiter

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
)

// Snapshot is poold's state at one moment, copied on the loop: the typed
// view for in-process readers (the stats stream, the console, metrics).
// The control protocol's map replies are built at its edge, not from here.
type Snapshot struct {
	Taken    time.Time
	Watchers []WatcherSnapshot // highest priority first, then by name
	Sockets  []SocketSnapshot  // by fd
	// Stopping is true once poold has begun to stop every watcher.
	Stopping bool
	// Config is the outcome of the configuration's last reload.
	Config ConfigState
	// Upgrade is the last in-place upgrade's outcome (upgrade_status).
	Upgrade upgrade.Outcome
	// LogDropped is the lines poold's own log (its stderr queue) dropped:
	// queue full, write failed, output gone (dstats log_dropped).
	LogDropped uint64
}

// LogDrops are the lines of a watcher's workers poold dropped, by cause
// (status logs.dropped_file, dropped_queue, dropped_stderr; Other: those
// an older image handed over without their cause).
type LogDrops struct {
	File, Queue, Stderr, Other uint64
}

// WatcherSnapshot is one watcher in a Snapshot.
type WatcherSnapshot struct {
	ID     uint64
	Name   string
	Status watcher.Status
	// Shown is the status poolctl status and the console show
	// (watcher.Shown): Status, but starting for an elastic pool none of
	// whose first workers is ready yet (just woken, say). Readiness
	// judges Status; poold_pool_status says Shown.
	Shown     watcher.Status
	Reason    string // why it is flapping or failed, "" when all is well
	Target    int
	Spec      configs.Watcher
	Processes []watcher.Process // by wid
	Slots     []watcher.SlotInfo
	// Size is the pool's size, its bounds and, for an elastic pool, its
	// last scale decision.
	Size watcher.Size
	// Resting: stopped, or stopping, and nothing is to start it again
	// (see Arbiter.resting); NotReady leaves it out unless it serves a
	// socket nobody else serves.
	Resting bool
	// Started: a start has run it since poold began (watcher.Started);
	// NotReady leaves out a watcher with autostart = false until then.
	Started bool
	// Sockets names the listening sockets poold holds that its workers
	// inherit (see configs.Watcher.SocketNames).
	Sockets []string
	// LogDrops are its workers' log lines poold dropped, by cause.
	LogDrops LogDrops
	// Cgroups are the directories of the workers' own cgroups, by pid;
	// nil when none has one. Their members count in the workers' trees.
	Cgroups map[int]string
	// Memory says, by pid, where the cgroups of the workers under
	// memory_max count their memory (cgmem.go); nil when none has one.
	Memory map[int]cgroup.Memory
}

// SocketSnapshot is one listening socket in a Snapshot.
type SocketSnapshot struct {
	Name string
	// FD is the fd listsockets reports (the workers' fd, as circusd's),
	// which the stats stream's stat.sockets.<fd> uses too; PooldFD is
	// poold's own (listsockets' poold_fd).
	FD      int
	PooldFD int
	Address string
	Info    map[string]any // the listsockets object
	Queued  int            // connections waiting in the accept queue
	// QueueLimit is the most connections that may wait (the backlog the
	// kernel applies); 0 when the queue could not be read.
	QueueLimit int
}

// ErrStopped is returned by Snapshot once the arbiter's loop has ended.
var ErrStopped = errors.New("arbiter: poold has stopped")

// Snapshot copies the state of every watcher and socket. It is safe from
// any goroutine and gives up when ctx is done.
func (a *Arbiter) Snapshot(ctx context.Context) (Snapshot, error) {
	c := make(chan Snapshot, 1)
	if !a.postCtx(ctx, funcMsg{func() { c <- a.snapshotNow() }}) {
		if err := ctx.Err(); err != nil {
			return Snapshot{}, err
		}
		return Snapshot{}, ErrStopped
	}
	select {
	case s := <-c:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	case <-a.stopped:
		return Snapshot{}, ErrStopped
	}
}

// SnapshotOnLoop is Snapshot for code the loop itself runs (an
// Upgrader's Drain, in the hand-over): Snapshot from there would wait for
// the loop forever. From any other goroutine it is a data race.
func (a *Arbiter) SnapshotOnLoop() Snapshot { return a.snapshotNow() }

// snapshotNow builds a Snapshot; call it on the loop.
func (a *Arbiter) snapshotNow() Snapshot {
	s := Snapshot{Taken: time.Now(), Stopping: a.stopping, Config: a.config, Upgrade: a.upgradeStatus()}
	for _, w := range a.sorted(nil) {
		procs := w.Processes()
		s.Watchers = append(s.Watchers, WatcherSnapshot{
			ID: w.ID(), Name: w.Name(), Status: w.Status(), Shown: w.Shown(), Reason: a.reasonOf(w), Target: w.Target(),
			Spec: w.Spec(), Processes: procs, Slots: w.Slots(), Size: w.Size(), Resting: a.resting(w), Started: w.Started(),
			Sockets: w.Spec().SocketNames(a.cfg.Sockets), LogDrops: a.output.dropsOf(w.Name()), Cgroups: a.cgroupDirs(procs),
			Memory: a.memories(procs),
		})
	}
	s.Sockets = a.snapshotSockets()
	if a.opts.Logs != nil {
		s.LogDropped = a.opts.Logs.Stats().Dropped
	}
	return s
}

// snapshotSockets reads every listening socket and its accept queue; call
// it on the loop.
func (a *Arbiter) snapshotSockets() []SocketSnapshot {
	var out []SocketSnapshot
	if a.socks != nil {
		fdOf, _ := a.listedFDs()
		for _, l := range a.socks.List() {
			// A getsockopt or a sock_diag round trip to the kernel: quick
			// enough for the loop, which also keeps the fd from closing
			// under the read (a config reload closes sockets on the loop).
			n, limit, _ := queueOf(l.FD())
			fd := fdOf[l.Name]
			out = append(out, SocketSnapshot{
				Name: l.Name, FD: fd, PooldFD: l.FD(), Address: l.Addr(), Info: l.Info(fd), Queued: n, QueueLimit: limit,
			})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].FD < out[j].FD })
	}
	return out
}

// cgroupDirs are the cgroup directories of procs that have one, by pid;
// nil when none has. Call it on the loop.
func (a *Arbiter) cgroupDirs(procs []watcher.Process) map[int]string {
	var dirs map[int]string
	for _, p := range procs {
		if dir := a.cgroupDir(p.Pid); dir != "" {
			if dirs == nil {
				dirs = make(map[int]string, len(procs))
			}
			dirs[p.Pid] = dir
		}
	}
	return dirs
}

// rowsOf lists the process rows of a snapshot.
func rowsOf(s Snapshot) []procRow {
	var rows []procRow
	for _, w := range s.Watchers {
		for _, p := range w.Processes {
			rows = append(rows, procRow{w.Name, p, w.Cgroups[p.Pid], w.Memory[p.Pid]})
		}
	}
	return rows
}
