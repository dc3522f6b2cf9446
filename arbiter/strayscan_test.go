package arbiter

import (
	"sync"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// Every worker end without a cgroup scanned all of poold's children for
// itself: stopping 3,000 workers cost 432 CPU ticks instead of 29. The
// ends that ask while a scan runs now share the next one: n ends cost two
// scans, not n; and none is given a scan that began before it asked (a
// stray reparented as its worker died would be missing).
func TestStrayScansAreShared(t *testing.T) {
	var sc strayScans
	release := make(chan struct{})
	var gen int
	scan := func() []stray {
		gen++ // scans never overlap
		if gen == 1 {
			<-release
		}
		return []stray{{pid: gen}}
	}
	var wg sync.WaitGroup
	first := make(chan []stray, 1)
	wg.Go(func() { first <- sc.get(scan) })
	proctest.Eventually(t, "the first scan running", func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.running
	})
	const ends = 100
	got := make([][]stray, ends)
	for i := range ends {
		wg.Go(func() { got[i] = sc.get(scan) })
	}
	proctest.Eventually(t, "every end waiting", func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.waiting == ends
	})
	close(release)
	wg.Wait()
	if l := <-first; len(l) != 1 || l[0].pid != 1 {
		t.Errorf("the first caller got %v, want the first scan's", l)
	}
	for i, l := range got {
		if len(l) != 1 || l[0].pid != 2 {
			t.Fatalf("end %d, which asked while the first scan ran, got %v: want the second scan's", i, l)
		}
	}
	if n := sc.scans(); n != 2 {
		t.Errorf("%d ends and one scan in flight: %d scans, want 2", ends, n)
	}
}
