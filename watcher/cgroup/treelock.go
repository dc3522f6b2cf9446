package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// A poold of another config that starts at the same moment prunes every
// tree it finds unlocked and empty (prune), and a tree just made is both
// until its poold locks it: the pruner may hold its lock for a moment
// (flock fails, though no poold runs this config), or remove it between
// its mkdir and its lock (the dir is gone, or the lock is on a removed
// dir). lockTree tries again in those cases; only a lock held past
// lockWait is another poold of this config. That wait has its own budget,
// apart from the wait for the trees' lock (withTreesLocked), which may use
// up its own second first: a prune that holds the trees' lock past it
// (thousands of empty cgroups a killed poold left) still holds the tree's
// when lockTree stops waiting for the trees' and tries the tree's, and
// that refusal is the prune's, for a moment, not another poold's.
const (
	lockWait = time.Second
	lockPoll = 10 * time.Millisecond
)

// errPruned is tryLockTree's error when the dir went before it was
// locked.
var errPruned = errors.New("removed by another poold's prune before it was locked")

// lockTree makes (or takes) the tree's dir and locks it, checking that
// it has what poold needs (a dir without it is removed).
func lockTree(dir string) (*os.File, error) {
	var refused time.Duration // waited for the tree's lock, not the trees'
	for tries := 0; ; tries++ {
		var f *os.File
		var err error
		withTreesLocked(filepath.Dir(dir), func() { f, err = tryLockTree(dir) })
		if errors.Is(err, ErrInUse) && treeLockRefused != nil {
			treeLockRefused()
		}
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, errPruned) && tries < 100:
		case errors.Is(err, ErrInUse) && refused < lockWait:
			began := time.Now()
			time.Sleep(lockPoll) // a pruner holds it for a moment; a poold for good
			refused += time.Since(began)
		default:
			return nil, err
		}
	}
}

// treeLockRefused, set by tests, is called each time lockTree finds the
// tree's lock held; nil in production.
var treeLockRefused func()

// tryLockTree is one try of lockTree.
func tryLockTree(dir string) (*os.File, error) {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("make cgroup %s: %w (%s)", dir, err, mkdirHint(err))
	}
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errPruned
	}
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cgroup %s is %w (flock: %w); stop it first", dir, ErrInUse, err)
	}
	if !stillThere(f, dir) {
		f.Close()
		return nil, errPruned
	}
	// Locked, so no prune removes it now: a missing cgroup.kill is the
	// kernel's.
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		_ = unix.Rmdir(dir)
		f.Close()
		return nil, fmt.Errorf("cgroup %s has no cgroup.kill (needs Linux 5.14): %w", dir, err)
	}
	return f, nil
}

// stillThere reports whether dir is still the directory f has open.
func stillThere(f *os.File, dir string) bool {
	var open, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &open) != nil || unix.Stat(dir, &now) != nil {
		return false
	}
	return open.Ino == now.Ino && open.Dev == now.Dev
}

// withTreesLocked runs fn holding the lock of parent, the directory of
// every poold's tree (poold's own cgroup), which the making of a tree
// (mkdir to lock), its removal at Close and a prune take: a prune then
// never sees a tree between its mkdir and its lock, nor removes a tree
// its poold closed and made again since the prune looked. A holder holds
// it for a few file operations; after lockWait fn runs without it (a
// poold stopped while it held it: tryLockTree and prune still check
// what they lock).
func withTreesLocked(parent string, fn func()) {
	f, err := os.Open(parent)
	if err == nil {
		defer f.Close()
		deadline := time.Now().Add(lockWait)
		for unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil && time.Now().Before(deadline) {
			time.Sleep(lockPoll)
		}
	}
	fn()
}
