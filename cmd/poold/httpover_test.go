package main

import (
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
)

// Snapshots reach the view in any order (concurrent scrapes and probes,
// the hand-over's own): the one kept never goes back to an older one.
func TestHTTPViewKeepsTheNewestSnapshot(t *testing.T) {
	v := newHTTPView(nil)
	base := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.keep(&arbiter.Snapshot{Taken: base.Add(time.Duration(i) * time.Millisecond)})
		}()
	}
	wg.Wait()
	v.keep(&arbiter.Snapshot{Taken: base})
	if got := v.last.Load().Taken; !got.Equal(base.Add(49 * time.Millisecond)) {
		t.Fatalf("kept the snapshot of %v, want the newest, %v", got.Sub(base), 49*time.Millisecond)
	}
}
