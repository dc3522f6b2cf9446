package spawn

import "sync"

// Reaps foreseen. A process that has ended stays a zombie, and so keeps
// its pid and its process group's number taken, until its parent reaps
// it. For a worker's orphan that parent is poold (the subreaper), so poold
// knows the last moment at which such a process still holds its group's
// number: just before it reaps it. The drain of what a killed worker left
// in its process group (arbiter/leftgroup.go) lists the group then: a
// process its member forked just before exiting is in the listing, and
// provably in the worker's group, not in one a new process started under
// the same number after the kernel had freed it.

var reapWatch = struct {
	mu  sync.Mutex
	fns map[int]*reapCall
}{fns: map[int]*reapCall{}}

type reapCall struct{ fn func() }

// BeforeOrphanReap has fn called once, on the reaping goroutine, just
// before poold reaps pid as an orphan, while pid is still a zombie. It
// is not called if pid is reaped by anyone else (its parent, when that is
// not poold). cancel forgets fn; call it once pid matters no more.
func BeforeOrphanReap(pid int, fn func()) (cancel func()) {
	c := &reapCall{fn}
	reapWatch.mu.Lock()
	reapWatch.fns[pid] = c
	reapWatch.mu.Unlock()
	return func() {
		reapWatch.mu.Lock()
		if reapWatch.fns[pid] == c { // not a later one for a pid given anew
			delete(reapWatch.fns, pid)
		}
		reapWatch.mu.Unlock()
	}
}

// beforeReap calls what BeforeOrphanReap set for pid, which is about to
// be reaped.
func beforeReap(pid int) {
	reapWatch.mu.Lock()
	c := reapWatch.fns[pid]
	delete(reapWatch.fns, pid)
	reapWatch.mu.Unlock()
	if c != nil {
		c.fn()
	}
}
