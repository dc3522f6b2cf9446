package procinfo

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestReadTreeUsageOfSelf reads the test process, with a child under it:
// its own figures, a tree of two, and nothing for a pid that is gone.
func TestReadTreeUsageOfSelf(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	s := New()
	var got map[int]TreeUsage
	var u TreeUsage
	var ok bool
	// A process that has just exec'd can read RSS 0 in /proc/PID/stat
	// for a moment (the kernel sums its per-CPU page counts lazily), so
	// the tree is read until the sleep's pages show.
	proctest.Eventually(t, "the sleep's pages in the test process's tree", func() bool {
		var err error
		if got, err = s.ReadTreeUsage([]int{os.Getpid(), 1 << 30}); err != nil {
			t.Fatal(err)
		}
		u, ok = got[os.Getpid()]
		return ok && u.Tree.RSS > u.Own.RSS
	})
	if u.Own.RSS < 1<<20 || u.Own.CPUSeconds <= 0 {
		t.Errorf("own usage %+v: want some RSS and CPU", u.Own)
	}
	if u.Processes < 2 || !slices.Contains(u.Members, child.Process.Pid) || u.Tree.CPUSeconds < u.Own.CPUSeconds {
		t.Errorf("tree usage %+v of %d processes %v: want the sleep %d in it", u.Tree, u.Processes, u.Members, child.Process.Pid)
	}
	if _, ok := got[1<<30]; ok || len(got) != 1 {
		t.Errorf("a pid that does not exist got usage: %v", got)
	}
}
