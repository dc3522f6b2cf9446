package cgroup

import (
	"time"

	"golang.org/x/sys/unix"
)

// Parking. A worker's cgroup that emptied is kept, empty, for the next
// worker of the same watcher slot with the same limits, instead of being
// removed and made again: its replacement starts in it at once. Creating
// and removing a cgroup both take the kernel's cgroup_mutex, and so does
// the release of a removed one, which a kernel worker runs later; a clone
// into a cgroup takes it too. In a burst of exits those releases held up
// the replacements' mkdirs and clones (perf, 100 kill -9s among 10,000
// workers: the spawner spun on cgroup_mutex behind css_release_work_fn).
// A parked cgroup that no worker takes within ParkFor of the next Expire
// is removed; the tree holds at most parkMax of them.

// ParkFor is how long a parked cgroup waits for a worker of its slot
// before Expire removes it.
const ParkFor = 5 * time.Second

// parkMax bounds the parked cgroups of a tree: beyond it an emptied
// cgroup is removed at once, as without parking.
const parkMax = 1024

// slotKey is what a parked cgroup can be reused for: the slot a worker
// runs in (the name says it) and the limits written into it.
type slotKey struct {
	watcher string
	wid     int
	lim     Limits
}

// Park keeps g, whose worker has exited and which is empty, for the next
// worker of its slot. It removes g instead when the tree is closed, full
// of parked cgroups or already holds one for that slot, and when g was
// ever killed through cgroup.kill: Linux (6.18 here) SIGKILLs a process
// cloned into such a cgroup as it starts (every replacement died within
// a millisecond, "killed by signal KILL"). The OOM kills and refused
// forks g's last OOMKills and PidsRefused counted are not counted again
// for its next worker: call them first.
func (t *Tree) Park(g *Group) error {
	g.CloseFD()
	g.oomBase = g.oomSeen
	g.pidsBase = g.pidsSeen
	g.memBase = g.memSeen
	t.mu.Lock()
	if t.closed || g.killed.Load() || len(t.parked) >= parkMax || t.parked[g.key] != nil {
		t.mu.Unlock()
		return g.Remove()
	}
	if t.parked == nil {
		t.parked = map[slotKey]*Group{}
	}
	g.parkedAt = time.Now()
	t.parked[g.key] = g
	t.mu.Unlock()
	return nil
}

// unpark takes the parked cgroup of key, opened for the clone, or nil.
func (t *Tree) unpark(key slotKey) *Group {
	t.mu.Lock()
	g := t.parked[key]
	delete(t.parked, key)
	t.mu.Unlock()
	if g == nil {
		return nil
	}
	fd, err := unix.Open(g.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = g.Remove()
		return nil
	}
	g.fd = fd
	return g
}

// Parked is how many cgroups wait for a worker of their slot.
func (t *Tree) Parked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.parked)
}

// Expire removes the cgroups parked for longer than age and returns how
// many it removed. It may run beside NewGroup and Park.
func (t *Tree) Expire(age time.Duration) int {
	cut := time.Now().Add(-age)
	var old []*Group
	t.mu.Lock()
	for k, g := range t.parked {
		if !g.parkedAt.After(cut) {
			old = append(old, g)
			delete(t.parked, k)
		}
	}
	t.mu.Unlock()
	for _, g := range old {
		_ = g.Remove()
	}
	return len(old)
}

// unparkAll stops parking and removes every parked cgroup (Close).
func (t *Tree) unparkAll() {
	t.mu.Lock()
	t.closed = true
	gs := t.parked
	t.parked = nil
	t.mu.Unlock()
	for _, g := range gs {
		_ = g.Remove()
	}
}
