package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// TreePrefix begins the name of every tree: prune removes only those.
const TreePrefix = "poold.tree."

// Tree is poold's directory of worker cgroups, locked for as long as poold
// runs.
type Tree struct {
	Dir  string   // the tree's cgroup directory
	lock *os.File // the directory, flock'ed: released when poold dies
	seq  atomic.Uint64

	mu      sync.Mutex
	enabled map[string]bool // controllers enabled for the workers' cgroups
	v1      []v1Hier        // cgroup v1 hierarchies of limits (hybrid hosts)
	parked  map[slotKey]*Group
	closed  bool     // no more parking
	moved   string   // the SelfLeaf poold's processes moved into; "" while they did not
	passed  []string // controllers enabled in poold's own cgroup
}

// Moved is the SelfLeaf poold's own processes were moved into to pass a
// controller down to the workers' cgroups, "" while they were not.
func (t *Tree) Moved() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.moved
}

// ErrInUse is Open's error when a live poold holds the tree: another
// poold runs the same config.
var ErrInUse = errors.New("in use by another poold running the same config")

// Leftover is what a previous poold left in the tree, killed and removed
// by Open.
type Leftover struct {
	Cgroups int   // worker cgroups found
	Pids    []int // processes that were still in them
}

// Open makes (or takes over) the tree called name below poold's own
// cgroup v2 directory. When a poold that died (SIGKILL) left worker
// cgroups there, Open kills what is in them (cgroup.kill), waits until
// they are empty (bounded by grace) and removes them. It fails when a
// live poold holds the tree, and when cgroups cannot be made here; the
// error says why.
func Open(name string, grace time.Duration) (*Tree, Leftover, error) {
	own, _, err := Own()
	if err != nil {
		return nil, Leftover{}, err
	}
	dir := filepath.Join(own, name)
	f, err := lockTree(dir)
	if err != nil {
		return nil, Leftover{}, err
	}
	t := &Tree{Dir: dir, lock: f, enabled: map[string]bool{}}
	prune(own, name)
	left, err := t.sweep(grace)
	if err != nil {
		t.Close()
		return nil, left, err
	}
	return t, left, nil
}

// makeTree makes the cgroup dir (an existing one is taken) and checks
// that it has what poold needs of it; a dir without it is removed.
func makeTree(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("make cgroup %s: %w (%s)", dir, err, mkdirHint(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		_ = unix.Rmdir(dir)
		return fmt.Errorf("cgroup %s has no cgroup.kill (needs Linux 5.14): %w", dir, err)
	}
	return nil
}

// ProbePrefix begins the name of the cgroup Probe makes and removes.
const ProbePrefix = "poold.probe."

// Probe says why Open would fail on this machine for this process (nil
// when it would not): it makes a cgroup where Open makes its tree, as
// Open does, and removes it at once. For poold --check, which must not
// take the tree a running poold of the same config holds.
func Probe() error {
	own, _, err := Own()
	if err != nil {
		return err
	}
	dir := filepath.Join(own, fmt.Sprintf("%s%d", ProbePrefix, os.Getpid()))
	if err := makeTree(dir); err != nil {
		return err
	}
	if err := unix.Rmdir(dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// mkdirHint says what gives poold cgroups, after err made it fail to make
// one.
func mkdirHint(err error) string {
	if errors.Is(err, unix.EROFS) {
		return "the cgroup filesystem is mounted read-only, as a container's is by default: give the container a " +
			"writable cgroup (Docker: --cgroupns=private with /sys/fs/cgroup mounted rw), or use the container's own limits"
	}
	return "poold needs root, or a cgroup delegated to it: systemd Delegate=yes"
}

// sweep kills and removes every worker cgroup in the tree: what a dead
// poold left. Everything is killed first, then each cgroup is waited for
// and removed: thousands of them (a poold of 10,000 workers SIGKILLed)
// die together rather than one after another.
func (t *Tree) sweep(grace time.Duration) (Leftover, error) {
	var left Leftover
	ents, err := os.ReadDir(t.Dir)
	if err != nil {
		return left, fmt.Errorf("read cgroup %s: %w", t.Dir, err)
	}
	var groups []*Group
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		left.Cgroups++
		g := &Group{Dir: filepath.Join(t.Dir, e.Name())}
		left.Pids = append(left.Pids, g.Pids()...)
		if err := g.Kill(); err != nil {
			return left, err
		}
		groups = append(groups, g)
	}
	for _, g := range groups {
		if err := g.WaitEmpty(grace); err != nil {
			return left, fmt.Errorf("leftover cgroup %s: %w", g.Dir, err)
		}
		if err := g.Remove(); err != nil {
			return left, err
		}
	}
	t.sweepV1()
	return left, nil
}

// Close removes the parked cgroups, then the tree if it is empty, and
// releases its lock.
func (t *Tree) Close() error {
	t.unparkAll()
	var err error
	withTreesLocked(filepath.Dir(t.Dir), func() { err = os.Remove(t.Dir) })
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
		err = nil // a worker cgroup that would not empty: the next poold sweeps it
	}
	t.closeV1()
	if err == nil {
		t.mu.Lock()
		t.unpass()
		t.mu.Unlock()
	}
	t.lock.Close()
	return err
}

// NewGroup makes a worker's cgroup, named after its watcher and slot,
// with limits applied, or takes the one parked for that slot and those
// limits. Open its FD for the clone that starts the worker.
func (t *Tree) NewGroup(watcher string, wid int, lim Limits) (*Group, error) {
	key := slotKey{watcher: watcher, wid: wid, lim: lim}
	if g := t.unpark(key); g != nil {
		g.restartPeak()
		return g, nil
	}
	name := fmt.Sprintf("w-%s.%d.%d", watcher, wid, t.seq.Add(1))
	g := &Group{Dir: filepath.Join(t.Dir, name), key: key}
	if err := t.enable(lim); err != nil {
		return nil, err
	}
	if err := os.Mkdir(g.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("make cgroup %s: %w", g.Dir, err)
	}
	if err := t.apply(g, name, lim); err != nil {
		g.Remove()
		return nil, err
	}
	fd, err := unix.Open(g.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		g.Remove()
		return nil, fmt.Errorf("open cgroup %s: %w", g.Dir, err)
	}
	g.fd = fd
	return g, nil
}

// controllers lists the v2 controllers a cgroup may enable for its
// children.
func controllers(dir string) map[string]bool {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	out := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		out[c] = true
	}
	return out
}

// prune removes the trees of other configs whose poold is gone (their lock
// is free) and that hold no process any more: empty cgroups that a killed
// poold, or one whose config file is gone, left. A tree that still holds
// processes is left for a poold of its own config to sweep.
func prune(own, self string) {
	withTreesLocked(own, func() {
		pruneV2(own, self)
		pruneV1(own, self)
	})
}

// pruneV1Hook, set by tests, is called by pruneV1 before it removes a
// v1 tree; nil in production.
var pruneV1Hook func(dir string)

// pruneV1 removes the cgroup v1 trees (limits on a hybrid host) whose v2
// tree is gone; rmdir fails on any that still holds a process. Run
// holding the trees' lock, as pruneV2: a poold makes its v1 dirs only
// once its v2 tree is made, which takes that lock, so the v2 tree read
// gone stays gone until the v1 one is removed. Without the lock, a poold
// of that config that closed its tree and opened it again in between
// (a restart) had the empty v1 cgroups it had just made for its workers
// removed under it.
func pruneV1(own, self string) {
	for _, h := range findV1() {
		ents, _ := os.ReadDir(h.own)
		for _, e := range ents {
			name := e.Name()
			if !e.IsDir() || !strings.HasPrefix(name, TreePrefix) || name == self {
				continue
			}
			if _, err := os.Stat(filepath.Join(own, name)); errors.Is(err, os.ErrNotExist) {
				if pruneV1Hook != nil {
					pruneV1Hook(filepath.Join(h.own, name))
				}
				removeEmpty(filepath.Join(h.own, name))
			}
		}
	}
}

// pruneV2 is prune's part in cgroup v2, run holding the trees' lock.
func pruneV2(own, self string) {
	ents, _ := os.ReadDir(own)
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), TreePrefix) || e.Name() == self {
			continue
		}
		dir := filepath.Join(own, e.Name())
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		// stillThere: the tree's poold may have removed the dir it
		// closed and made it again since the open, and its lock is on
		// the new one.
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && stillThere(f, dir) {
			if full, err := (&Group{Dir: dir}).Populated(); err == nil && !full {
				removeEmpty(dir)
			}
		}
		f.Close()
	}
}

// removeEmpty removes dir and the cgroups in it that hold no process.
func removeEmpty(dir string) {
	subs, _ := os.ReadDir(dir)
	for _, sub := range subs {
		if sub.IsDir() {
			_ = unix.Rmdir(filepath.Join(dir, sub.Name()))
		}
	}
	_ = unix.Rmdir(dir)
}
