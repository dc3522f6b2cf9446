package cgroup

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// prune removes a cgroup v1 tree whose v2 tree is gone while it holds the
// trees' lock: outside it, a poold of that config that closed its tree and
// made it again between the prune's look and its rmdir (a restart) lost
// the empty v1 cgroups it had just made for its workers (r65 review2).
func TestPruneOfV1TreesHoldsTheTreesLock(t *testing.T) {
	tr := openTree(t, testName(t)) // skips (or fails under CI) without cgroups
	hiers := findV1()
	if len(hiers) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no cgroup v1 hierarchy (memory, pids, cpu) on this host; CI's is hybrid")
		}
		t.Skip("no cgroup v1 hierarchy on this host: nothing of v1 to prune")
	}
	own := filepath.Dir(tr.Dir)
	stale := filepath.Join(hiers[0].own, testName(t)+"-v1only") // its v2 tree is gone
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(stale) })
	seen, locked := false, false
	pruneV1Hook = func(dir string) {
		if dir != stale {
			return
		}
		seen = true
		f, err := os.Open(own)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		locked = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil // held: by prune
	}
	t.Cleanup(func() { pruneV1Hook = nil })
	prune(own, filepath.Base(tr.Dir))
	if !seen {
		t.Fatalf("prune never came to remove %s", stale)
	}
	if !locked {
		t.Errorf("prune removed the v1 tree %s without the trees' lock on %s", stale, own)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("v1 tree %s, whose v2 tree is gone, still there: %v", stale, err)
	}
}
