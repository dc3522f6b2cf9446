package cgroup

import (
	"sync"
	"testing"
)

// Two poolds of different configs starting at once: each Open prunes the
// other trees it finds free and empty, and a tree the other poold has
// just made is free and empty until that poold locks it. The prune took
// it: the other poold failed with "in use by another poold running the
// same config" (the pruner held its lock), or with "has no cgroup.kill
// (needs Linux 5.14)" (its dir gone under the check), or locked a
// removed dir and could make no worker cgroup in it (r65: two poolds
// whose configs were both named poold.toml).
func TestOpensOfTwoConfigsAtOnceNeverTakeEachOthersTree(t *testing.T) {
	openTree(t, testName(t)+"-probe") // skips (or fails under CI) without cgroups
	const rounds = 300
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i := range 2 {
		name := testName(t) + "-" + string(rune('a'+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				tr, _, err := Open(name, 0)
				if err != nil {
					errs <- err
					continue
				}
				g, err := tr.NewGroup("w", 1, Limits{})
				if err != nil {
					errs <- err
				} else {
					g.Remove()
				}
				tr.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n < 5 {
			t.Error(err)
		}
		n++
	}
	if n > 0 {
		t.Errorf("%d of %d opens failed", n, 2*rounds)
	}
}
