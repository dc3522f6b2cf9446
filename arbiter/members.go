package arbiter

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
	"golang.org/x/sys/unix"
)

// Members: the processes of a worker's tree that daemonized. A worker's
// descendant that daemonized (setsid and a double fork) is out of its
// tree by parent, yet counts for max_rss, max_cpu, stats and the tree
// metrics: its worker's cgroup still holds it. Reading every worker's
// cgroup.procs costs ~17 µs a worker at each sample: 170 ms of every
// `stats` and every scrape at 10,000 workers. Where poold is the
// subreaper of its workers' orphans (its own binary: a.subreaper), such
// a descendant has become poold's child as its parent ended. So a
// sample lists poold's children instead (a read per poold thread), and
// keeps those that are neither a worker nor a command poold runs (an
// exec health check): with none, the usual case, it reads nothing more.
// For each one left (the daemon, a hook's daemon, a process poold had
// when it started) it reads /proc/PID/cgroup, which says whose worker's
// cgroup holds it, if any.
//
// It reads every worker's cgroup.procs as before where poold is no
// subreaper (run as a library, or the prctl failed), where /proc is not
// its pid namespace's, where its children cannot be read (a kernel
// without CONFIG_PROC_CHILDREN), where the cgroup of such a child cannot
// be read, and where it has more such children than workers with a
// cgroup (fewer reads that way). What the subreaper
// way does not count that cgroup.procs did: a process put into a
// worker's cgroup from outside, no descendant of it; and, for one
// sample, a descendant whose parent ended between the read of poold's
// children and the sample's read of /proc.

// memberReads counts what members read, for tests and benchmarks.
type memberReads struct {
	procs  atomic.Int64 // cgroup.procs files
	others atomic.Int64 // /proc/PID/cgroup of poold's children that are no worker
}

// memberScratch are the buffers of one members call, kept between them.
type memberScratch struct {
	scan procinfo.ChildScan
	kids []int
	buf  []byte
	path []byte
}

var memberScratches = sync.Pool{New: func() any { return &memberScratch{buf: make([]byte, 4096)} }}

// members lists, for the rows that have a cgroup of their own, the
// processes of that cgroup the worker's tree by parent may miss; nil
// when no row has one, or none is missed. Never on the loop.
func (a *Arbiter) members(rows []procRow) procinfo.Members {
	withCgroup := 0
	for _, r := range rows {
		if r.cgroup != "" {
			withCgroup++
		}
	}
	if withCgroup == 0 {
		return nil
	}
	if a.subreaper.Load() {
		if ms, ok := a.adoptedMembers(rows, withCgroup); ok {
			return ms
		}
	}
	a.memberReads.procs.Add(int64(withCgroup))
	return cgroupMembers(rows)
}

// adoptedMembers is members from poold's children that are no worker,
// as poold's subreaper: each one in a row's cgroup (or in one below it)
// is that row's. False when members must read cgroup.procs instead.
func (a *Arbiter) adoptedMembers(rows []procRow, withCgroup int) (procinfo.Members, bool) {
	sc := memberScratches.Get().(*memberScratch)
	defer memberScratches.Put(sc)
	var err error
	if sc.kids, err = sc.scan.Append(sc.kids[:0], os.Getpid()); err != nil {
		return nil, false
	}
	others := spawn.KeepUnregistered(sc.kids)
	if len(others) == 0 {
		return nil, true
	}
	if len(others) > withCgroup {
		return nil, false
	}
	owners := make(map[string]int, withCgroup)
	for _, r := range rows {
		if r.cgroup != "" {
			owners[cgroupKey(r.cgroup)] = r.proc.Pid
		}
	}
	var ms procinfo.Members
	for _, p := range others {
		a.memberReads.others.Add(1)
		sc.path = cgroup.AppendV2Path(sc.path[:0], p, sc.buf)
		if len(sc.path) == 0 && !errors.Is(unix.Kill(p, 0), unix.ESRCH) {
			return nil, false // there, but its cgroup unreadable (hidepid)
		}
		if w, ok := ownerOf(sc.path, owners); ok {
			if ms == nil {
				ms = make(procinfo.Members)
			}
			ms[w] = append(ms[w], p)
		}
	}
	return ms, true
}

// cgroupKey is the last two components of a worker's cgroup directory,
// poold's tree and the worker's own ("app/w-web.1.7"), as they end the
// cgroup path that /proc/PID/cgroup gives for a process in it (its
// start depends on the cgroup namespace and on the mount).
func cgroupKey(dir string) string {
	i := strings.LastIndexByte(dir, '/')
	return dir[strings.LastIndexByte(dir[:max(i, 0)], '/')+1:]
}

// ownerOf is the worker of owners (by cgroupKey) whose cgroup holds the
// cgroup v2 path, in it or below it (a cgroup the worker made): the
// first pair of adjacent components of path that is a key.
func ownerOf(path []byte, owners map[string]int) (int, bool) {
	prev, start := -1, 0 // where the previous and the current component start
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		if i > start {
			if prev >= 0 {
				if w, ok := owners[string(path[prev:i])]; ok {
					return w, true
				}
			}
			prev = start
		}
		start = i + 1
	}
	return 0, false
}

// cgroupMembers reads the cgroup.procs of each row that has a cgroup (a
// small read per worker): every process of the cgroup. Nil when no row
// has one.
func cgroupMembers(rows []procRow) procinfo.Members {
	var ms procinfo.Members
	var buf []byte
	var all []int // every row's members, back to back
	for _, r := range rows {
		if r.cgroup == "" {
			continue
		}
		if ms == nil {
			ms = make(procinfo.Members, len(rows))
			buf, all = make([]byte, 4096), make([]int, 0, 2*len(rows))
		}
		from := len(all)
		all = cgroup.AppendProcs(all, r.cgroup, buf)
		ms[r.proc.Pid] = all[from:len(all):len(all)]
	}
	return ms
}
