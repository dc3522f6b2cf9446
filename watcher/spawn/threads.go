package spawn

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Spare threads. The pids reserve (pids.go) keeps poold's own forks off
// the last pids, but workers fill a limit too: their forks, and the
// threads of any Go, Java or gthread server. Once the limit is full, the
// next OS thread the Go runtime needs for poold (a goroutine blocked in
// a write, a burst of /proc reads) cannot be created, and the runtime
// aborts poold ("fatal error: newosproc"), every worker dying with it.
// So, as soon as poold sees a limit (a pids cgroup's, or RLIMIT_NPROC),
// and while it has room, it makes the runtime create spareThreads threads
// that then stay idle in its pool (Go never ends an idle thread): later
// demand takes those instead of creating new ones, up to that many at
// once. They cost a pid each and a few KiB of memory, and no pid for
// workers: they count against the reserve (keepSpares).

// spareThreads is how many idle threads poold keeps once it is under a
// limit: how many more of its goroutines may be blocked in system calls
// at once, beyond its usual ones, at a full limit (9 or 10 more still
// abort it; r49c review).
const spareThreads = 8

// sparesMade is how many spare threads exist (for the process): 0 until
// a limit had room for them, then spareThreads.
var sparesMade atomic.Int32

// makeSpares has the runtime create n threads and leave them idle: n
// goroutines each lock themselves to a thread of their own and wait
// until all are locked; unlocked, their threads go back to the pool.
func makeSpares(n int) {
	var locked, released, done sync.WaitGroup
	locked.Add(n)
	released.Add(1)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			released.Wait()
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	released.Done()
	done.Wait()
}

// keepSpares makes the spare threads once room pids are free under the
// tightest limit seen, as many as the reserve at least (pids.go). The
// spares are threads of that reserve made ahead: poold keeps free only
// the rest of it (keptFree), so making them leaves poold as many threads
// to draw on as before, and leaves spareThreads more pids for workers.
// Never with less room: the runtime aborts when it cannot create a
// thread, and a limit with less room may be one that workers' own forks
// are filling now. All or none: a limit too tight for the reserve has no
// room for workers either. Called from the spawner's goroutine and, once
// at start, from the arbiter's (PidsLimit).
func keepSpares(room int) {
	sparesMu.Lock()
	defer sparesMu.Unlock()
	if sparesMade.Load() >= spareThreads || room < pidsReserve {
		return
	}
	sparesMade.Store(spareThreads)
	makeSpares(spareThreads)
}

// sparesMu makes keepSpares one at a time.
var sparesMu sync.Mutex

// nprocRoom is how many more processes and threads poold's real user may
// have under its RLIMIT_NPROC (the kernel holds a user other than root
// to it, counting every thread of theirs); false when it is not bound.
// It reads every /proc/PID/status: once, as the spawner starts.
func nprocRoom() (int, bool) {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &rl) != nil || rl.Cur == unix.RLIM_INFINITY || machineRoot() {
		return 0, false
	}
	limit := int(min(rl.Cur, 1<<30))
	if all, ok := allTasks(); ok && all+spareThreads+pidsReserve < limit {
		// Far from it however many are the user's: no walk of /proc
		// (hundreds of ms with thousands of processes).
		return limit - all, true
	}
	used, ok := tasksOf(os.Getuid())
	if !ok {
		return 0, false
	}
	return limit - used, true
}

// machineRoot reports whether poold's real user is root of the machine,
// whom the kernel does not hold to RLIMIT_NPROC: uid 0 in a user
// namespace of its own (a rootless container, docker's userns-remap) is
// another user of the machine, and is held to it. Only the full identity
// map is taken for the machine's: a namespace nested in another maps 0
// to 0 of its parent, which may be anyone (a false "held" costs a few
// idle threads, a false "root" an abort).
func machineRoot() bool {
	if os.Getuid() != 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "0" {
			return f[1] == "0" && f[2] == "4294967295"
		}
	}
	return true
}

// allTasks is how many threads the whole system runs (/proc/loadavg's
// fourth field, running/total), an upper bound of any user's.
func allTasks() (int, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, false
	}
	_, total, ok := strings.Cut(f[3], "/")
	n, err := strconv.Atoi(total)
	return n, ok && err == nil
}

// tasksOf counts the threads of every process whose real uid is uid, as
// RLIMIT_NPROC counts them (from /proc/PID/status).
func tasksOf(uid int) (int, bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	want, used := strconv.Itoa(uid), 0
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/status")
		if err != nil {
			continue // gone
		}
		var owner, threads string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					owner = f[0] // the real uid, which the kernel counts
				}
			}
			if v, ok := strings.CutPrefix(l, "Threads:"); ok {
				threads = strings.TrimSpace(v)
			}
		}
		if n, err := strconv.Atoi(threads); err == nil && owner == want {
			used += n
		}
	}
	return used, true
}
