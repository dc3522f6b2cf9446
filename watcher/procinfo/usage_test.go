package procinfo

import (
	"os"
	"os/exec"
	"testing"
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
	got, err := s.ReadTreeUsage([]int{os.Getpid(), 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	u, ok := got[os.Getpid()]
	if !ok || u.Own.RSS < 1<<20 || u.Own.CPUSeconds <= 0 {
		t.Errorf("own usage %+v (%v): want some RSS and CPU", u.Own, ok)
	}
	if u.Processes < 2 || u.Tree.RSS <= u.Own.RSS || u.Tree.CPUSeconds < u.Own.CPUSeconds {
		t.Errorf("tree usage %+v of %d processes: want the sleep in it", u.Tree, u.Processes)
	}
	if _, ok := got[1<<30]; ok || len(got) != 1 {
		t.Errorf("a pid that does not exist got usage: %v", got)
	}
}
