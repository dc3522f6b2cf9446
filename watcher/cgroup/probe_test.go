package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProbeAgreesWithOpen: poold --check asks Probe whether poold could
// make cgroups (for a watcher's memory_max, pids_max, cpu_max); it must
// answer as Open does, and leave nothing behind, not even while a poold
// holds a tree (Probe never takes one).
func TestProbeAgreesWithOpen(t *testing.T) {
	tr := openTree(t, TreePrefix+"probe-test")
	if err := Probe(); err != nil {
		t.Fatalf("Probe = %v where Open made %s", err, tr.Dir)
	}
	own := filepath.Dir(tr.Dir)
	left, _ := filepath.Glob(filepath.Join(own, ProbePrefix+"*"))
	if len(left) > 0 {
		t.Errorf("Probe left %v", left)
	}
	if _, err := os.Stat(tr.Dir); err != nil {
		t.Errorf("Probe touched the tree %s: %v", tr.Dir, err)
	}
	if _, _, err := Open(filepath.Base(tr.Dir), time.Second); err == nil {
		t.Errorf("after Probe, a second Open of the held tree succeeded")
	}
}
