package arbiter

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// Strays. With process groups only, what a worker moves out of its group
// (a setsid daemon whose parent exited) is no stop's to reach, and once
// its parent is gone it becomes poold's child, poold being the subreaper
// of its workers' orphans: a daemonizing worker left one such process at
// every restart. poold tells whose each one is from what it inherited:
// every worker runs with POOLD_WATCHER and POOLD_WID, which its
// descendants keep, and /proc/<pid>/environ shows them as the process
// was exec'd (what it changed since does not show). Such a "stray" is a
// worker's when it names that worker and started after that worker's
// fork: not a process of an earlier worker of the slot, nor a hook's or
// an exec health check's (POOLD_HOOK, POOLD_PID), nor one poold had when
// it started. One of a running worker (a helper it double-forked, which
// a cgroup would keep while the worker lives) is left alone; when the
// worker ends, its strays are stopped as what it left in its cgroup would
// be (strayend.go). One poold cannot place (a program that cleared its
// environment, or that outlived its worker's end) is named once in a
// warning, and stopped only as poold exits (orphans.go).

// workerKey is a worker as its environment names it.
type workerKey struct {
	watcher string
	wid     int
}

// strayOwner is a worker whose strays poold looks for when it ends.
type strayOwner struct {
	workerKey
	since uint64 // procinfo.BootTicks at or before its fork; 0: unknown
}

// strayBook is what the goroutines that handle workers' ends and the
// naming of strays share: the running workers and their process groups,
// and the strays named so far. A small deliberately shared leaf.
type strayBook struct {
	mu       sync.Mutex
	live     map[workerKey][]uint64 // the since of each running worker of a key
	groups   map[int]int            // worker pid -> its workers not yet handled (inWorkerGroup)
	warned   map[int]uint64         // pid -> start of each stray named in a warning
	blank    map[int]uint64         // pid -> start of each seen with a blank environment
	scanning atomic.Bool            // a naming scan is under way
}

// add records o as running, from its start until its end is handled.
func (b *strayBook) add(o strayOwner) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live == nil {
		b.live = make(map[workerKey][]uint64)
	}
	b.live[o.workerKey] = append(b.live[o.workerKey], o.since)
}

// remove forgets o, whose end has been handled.
func (b *strayBook) remove(o strayOwner) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.live[o.workerKey]
	for i, s := range l {
		if s == o.since {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(b.live, o.workerKey)
	} else {
		b.live[o.workerKey] = l
	}
}

// hold records the process group of pid, a worker that started, until
// release: what is in it is the worker's group's, never a stray.
func (b *strayBook) hold(pid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.groups == nil {
		b.groups = make(map[int]int)
	}
	b.groups[pid]++
}

// release forgets the process group of pid, a worker whose end has been
// handled (its group emptied, or was killed).
func (b *strayBook) release(pid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.groups[pid]--; b.groups[pid] <= 0 {
		delete(b.groups, pid)
	}
}

// inWorkerGroup tells whether pgid, the process group of a child of
// poold, is a worker's, running or ended but with its end not yet
// handled: a process still in it (a shell's app, a gunicorn master's
// workers, re-parented to poold once the leader ended) is what the
// worker left in its group, groupEnded's to wait for and kill, which had
// the stop signal with the group already; a second one makes some
// servers drop their requests. A pgid is its leader's pid, which the
// kernel gives anew only once the group is empty: so a group pgid whose
// /proc/<pgid> exists is the worker's only while the worker runs (or is
// a zombie not yet reaped), and is else a new process's group. One that
// left the group (setsid) has a pgid of its own, and is a stray.
func (b *strayBook) inWorkerGroup(pgid int) bool {
	b.mu.Lock()
	held := b.groups[pgid] > 0
	b.mu.Unlock()
	if !held {
		return false
	}
	if spawn.Registered(pgid) { // not reaped yet: the worker itself
		return true
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pgid))
	return errors.Is(err, os.ErrNotExist) // else its pid is another's by now
}

// ownerSince is the since of the running worker s belongs to, 0 if none:
// the one of those its environment names that started before it. n is
// how many did: two workers of one name and wid overlap after `rm
// --nostop` and `add` of a watcher (its old worker runs on, unmanaged),
// or while an old worker of a removed and added watcher stops; a process
// started after both could be either's, and is none's to stop (n > 1:
// ambiguous, named in a warning).
func (b *strayBook) ownerSince(s stray) (since uint64, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.live[s.key] {
		if s.ofWorker(w) {
			n++
			since = max(since, w)
		}
	}
	return since, n
}

// fresh keeps of list the strays not named before, and forgets those
// named before that are gone. One with a blank environment counts from
// the second scan that sees it so: a process in the middle of an exec
// has none for a moment.
func (b *strayBook) fresh(list []stray) []stray {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.warned == nil {
		b.warned, b.blank = make(map[int]uint64), make(map[int]uint64)
	}
	seen := make(map[int]bool, len(list))
	var out []stray
	for _, s := range list {
		seen[s.pid] = true
		if start, ok := b.blank[s.pid]; s.blank && (!ok || start != s.start) {
			b.blank[s.pid] = s.start
			continue
		}
		if start, ok := b.warned[s.pid]; !ok || start != s.start {
			b.warned[s.pid] = s.start
			out = append(out, s)
		}
	}
	for _, m := range []map[int]uint64{b.warned, b.blank} {
		for pid := range m {
			if !seen[pid] {
				delete(m, pid)
			}
		}
	}
	return out
}

// stray is a child of poold that is none of its workers, none of the
// commands it runs itself, and none it had when it started.
type stray struct {
	pid   int
	start uint64 // procinfo.StartTicks
	key   workerKey
	named bool   // its environment has POOLD_WATCHER and POOLD_WID
	hook  string // POOLD_HOOK, a hook's
	probe bool   // POOLD_PID without POOLD_HOOK: an exec health check's
	// blank: its environment is empty, as a process's is for a moment in
	// the middle of an exec (the new image's is not set up yet).
	blank bool
}

// ofWorker tells whether s, naming a worker, started after since, that
// worker's fork; and neither a hook's nor a probe's.
func (s stray) ofWorker(since uint64) bool {
	return s.named && s.hook == "" && !s.probe && since != 0 && s.start >= since
}

// watchStrays tells whether poold looks for strays: only as the
// subreaper of its workers' orphans (its own binary), with a /proc of its
// own pid namespace.
func (a *Arbiter) watchStrays() bool { return a.opts.ReapOrphans && !a.foreignProc }

// strayList lists poold's strays, read from /proc: its children in no
// worker's process group, nor its own.
func (a *Arbiter) strayList() []stray {
	own := syscall.Getpgrp()
	var out []stray
	for _, p := range childPids(os.Getpid()) {
		if a.inherited[p] || spawn.Registered(p) {
			continue
		}
		if g, err := syscall.Getpgid(p); err != nil || g == own || a.strays.inWorkerGroup(g) {
			continue
		}
		if s, err := readStray(p); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// readStray reads what pid's environment says of its origin, and when it
// started; an error if it has ended.
func readStray(pid int) (stray, error) {
	s := stray{pid: pid}
	var err error
	if s.start, err = procinfo.StartTicks(pid); err != nil {
		return s, err
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return s, err
	}
	s.blank = len(env) == 0
	var haveWatcher, haveWid bool
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		k, v, _ := bytes.Cut(kv, []byte{'='})
		switch string(k) { // the first of a name counts, as for getenv
		case "POOLD_WATCHER":
			if !haveWatcher {
				s.key.watcher, haveWatcher = string(v), true
			}
		case "POOLD_WID":
			if !haveWid {
				s.key.wid, _ = strconv.Atoi(string(v))
				haveWid = true
			}
		case "POOLD_HOOK":
			if s.hook == "" {
				s.hook = string(v)
			}
		case "POOLD_PID":
			s.probe = true
		}
	}
	s.named = haveWatcher && haveWid && s.key.wid > 0
	s.probe = s.probe && s.hook == ""
	// Read again: a pid that ended meanwhile (and was given anew) must
	// not lend its environment to another process.
	if again, err := procinfo.StartTicks(pid); err != nil || again != s.start {
		return s, errors.Join(err, procinfo.ErrEnded)
	}
	return s, nil
}

// nameStrays warns, once each, of strays no running worker owns. The
// loop's safety-net tick calls it; it runs off the loop. Only with
// process groups: with a cgroup per worker what a worker leaves ends
// with its cgroup, and a scan of every child of poold each tick would
// cost a poold of 10,000 workers more than all else it does at rest.
func (a *Arbiter) nameStrays() {
	if a.tree != nil || !a.watchStrays() || !a.strays.scanning.CompareAndSwap(false, true) {
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer a.strays.scanning.Store(false)
		var odd []stray // unowned, or ambiguous
		ambiguous := make(map[int]bool)
		for _, s := range a.strayScans.get(a.strayList) {
			if _, n := a.strays.ownerSince(s); n != 1 {
				odd = append(odd, s)
				ambiguous[s.pid] = n > 1
			}
		}
		for _, s := range a.strays.fresh(odd) {
			if ambiguous[s.pid] {
				a.log.Warn("a child process of poold outside every worker's process group could be either of two running workers' (the old worker of a watcher removed with --nostop and added again, and the new one): poold leaves it alone, and stops it only when poold exits; "+
					"stop the old worker (poolctl kill, or signal its pid), or give the new watcher another name",
					"pid", s.pid, "process", describePids([]int{s.pid}), "origin", "ambiguous: worker wid "+strconv.Itoa(s.key.wid)+" of watcher "+strconv.Quote(s.key.watcher))
				continue
			}
			a.log.Warn("a child process of poold outside every worker's process group belongs to no running worker; poold stops it only when poold exits: "+
				"keep programs in the foreground (no daemonizing), or give poold a cgroup per worker (README \"Containment\")",
				"pid", s.pid, "process", describePids([]int{s.pid}), "origin", s.origin())
		}
	}()
}

// origin says where s comes from, as far as its environment tells.
func (s stray) origin() string {
	switch {
	case s.hook != "" && s.key.watcher != "":
		return "hook " + s.hook + " of watcher " + strconv.Quote(s.key.watcher)
	case s.hook != "":
		return "hook " + s.hook
	case s.probe:
		return "an exec health check of watcher " + strconv.Quote(s.key.watcher)
	case s.named:
		return "worker wid " + strconv.Itoa(s.key.wid) + " of watcher " + strconv.Quote(s.key.watcher) +
			", which has ended (it outlived the end, or the worker's environment names it falsely)"
	}
	return "unknown: its environment has no POOLD_WATCHER and POOLD_WID (a program that replaced its environment, such as env -i)"
}
