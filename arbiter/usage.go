package arbiter

import (
	"context"

	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// What a metrics scrape reads of the workers, beyond the Snapshot.

// Usage is what the metrics read of one worker's process (not its
// children).
type Usage struct {
	RSS        uint64  // resident memory, bytes
	CPUSeconds float64 // user + system CPU time over its life
	// TreeRSS and TreeCPUSeconds are the same summed over the worker and
	// every process under it (a gunicorn master's workers);
	// TreeCPUSeconds also holds what the tree's processes that ended and
	// were reaped by it used (procinfo.TreeUsage).
	TreeRSS        uint64
	TreeCPUSeconds float64
	// TreeProcesses counts the worker and the processes under it.
	TreeProcesses int
	// FDs is the process of the worker's tree with the largest share
	// of its soft RLIMIT_NOFILE in use (procinfo.FDUse); HasFDs: one
	// could be read.
	FDs    procinfo.FDUse
	HasFDs bool
	// Cgroup is the charge of the worker's own cgroup under its
	// memory_max, its peak and the limit (cgmem.go); HasCgroup: read.
	Cgroup    cgroup.MemoryUse
	HasCgroup bool
}

// WorkerUsage reads /proc for the workers of snap and their process
// trees, by pid, in the caller's goroutine (never on the loop): the
// worker's own stat and its descendants', their open descriptors and
// limits, every process of the host at
// most every procinfo.FullScanEvery and those new since in between, to
// learn the trees (procinfo.ReadTreeUsage). A worker that exited since the snapshot is
// missing. It does not feed the resource limits, which judge the samples
// of RunStatsWhen alone.
func (a *Arbiter) WorkerUsage(snap Snapshot) map[int]Usage {
	return a.ReadWorkerUsage(context.Background(), snap)
}

// ReadWorkerUsage is WorkerUsage for a scrape with a bound: once ctx is
// done it reads no further and returns nil, whose caller has answered
// without it. A read of /proc under way is not cut, so it stops between
// its parts (the trees, the descriptors, the cgroups), not at ctx's end.
func (a *Arbiter) ReadWorkerUsage(ctx context.Context, snap Snapshot) map[int]Usage {
	var pids []int
	rows := rowsOf(snap)
	for _, r := range rows {
		pids = append(pids, r.proc.Pid)
	}
	read, err := a.opts.Stats.ReadTreeUsageWith(pids, a.members(rows))
	if err != nil {
		a.log.Warn("reading worker usage for metrics failed", "error", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	var members []int
	for _, u := range read {
		members = append(members, u.Members...)
	}
	// A readdir of /proc/PID/fd per process, on a scrape only: never
	// on the stats tick.
	fds := a.opts.Stats.ReadFDs(members)
	if ctx.Err() != nil {
		return nil
	}
	out := make(map[int]Usage, len(read))
	for pid, u := range read {
		us := Usage{
			RSS: u.Own.RSS, CPUSeconds: u.Own.CPUSeconds,
			TreeRSS: u.Tree.RSS, TreeCPUSeconds: u.Tree.CPUSeconds, TreeProcesses: u.Processes,
		}
		us.FDs, us.HasFDs = fullest(u.Members, fds)
		out[pid] = us
	}
	for _, r := range rows {
		if us, ok := out[r.proc.Pid]; ok && r.mem.Dir != "" {
			us.Cgroup, us.HasCgroup = r.mem.Read()
			out[r.proc.Pid] = us
		}
	}
	return out
}

// fullest is the one of pids whose descriptors in fds fill the largest
// share of its limit; false if none was read.
func fullest(pids []int, fds map[int]procinfo.FDUse) (procinfo.FDUse, bool) {
	var best procinfo.FDUse
	found := false
	for _, pid := range pids {
		u, ok := fds[pid]
		if ok && (!found || u.Ratio() > best.Ratio()) {
			best, found = u, true
		}
	}
	return best, found
}
