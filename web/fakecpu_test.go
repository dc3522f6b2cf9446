package web

import (
	"os"
	"testing"
	"time"
)

// TestFakeCPUIsNeverNegative: the fake backend's CPU samples, which the
// console's tests draw, stay within what a sampler reports (0 or more):
// one page showed a process at "-0.1%". poold's own sampler cannot go
// below 0 (its CPU time only grows; see procinfo's Sampler.info).
func TestFakeCPUIsNeverNegative(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	start := time.Now()
	for _, name := range []string{"w", "w00"} {
		w := &fakeWatcher{name: name, restart: map[int]int{}}
		for wid := 1; wid <= 4; wid++ {
			p := &fakeProc{pid: os.Getpid(), wid: wid, started: start}
			// Ten minutes of rounds, a quarter second apart: the
			// waves' periods are 23 s and 5 s.
			for i := range 4 * 600 {
				f.clock.Store(start.Add(time.Duration(i) * time.Second / 4).UnixNano())
				if cpu := f.info(w, p)["cpu"].(float64); cpu < 0 {
					t.Fatalf("watcher %s wid %d at %.2f s: cpu %v, want 0 or more", name, wid, float64(i)/4, cpu)
				}
			}
		}
	}
}
