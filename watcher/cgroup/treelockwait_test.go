package cgroup

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// A prune that holds the trees' lock past lockWait, and with it the lock
// of the tree it looks at, leaves lockTree its own wait for the tree's
// lock: that wait began with the wait for the trees' lock, so lockTree
// found its second used up at its first refusal and failed with "in use
// by another poold running the same config" though no poold ran it (r65
// review2).
func TestLockTreeWaitsForTheTreesLockAndThenForItsOwn(t *testing.T) {
	openTree(t, testName(t)+"-probe") // skips (or fails under CI) without cgroups
	own, _, err := Own()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(own, testName(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(dir) })
	// The prune: the trees' lock, then the tree's.
	parent, err := os.Open(own)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	tree, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	if err := unix.Flock(int(parent.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(tree.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var done sync.Once
	treeLockRefused = func() { // the prune ends just after lockTree's first refusal
		done.Do(func() {
			_ = unix.Flock(int(tree.Fd()), unix.LOCK_UN)
			_ = unix.Flock(int(parent.Fd()), unix.LOCK_UN)
		})
	}
	t.Cleanup(func() { treeLockRefused = nil })
	f, err := lockTree(dir)
	if err != nil {
		t.Fatalf("lockTree after a prune that held the trees' lock past lockWait: %v", err)
	}
	f.Close()
}
