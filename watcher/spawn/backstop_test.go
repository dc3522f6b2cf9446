package spawn

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// The backstop walk finds what has no pidfd: the workers the exit watch
// names are reaped on their own first. Each round arms the backstop (a
// worker's SIGCHLD), holds the reaps while its workers end and the
// backstop comes due, and releases them: the SIGCHLD and the backstop are
// then ready together. Walked first, the workers cost a walk each (a walk
// reaps what it finds ended and walks again from the first child).
func TestBackstopLeavesHintedExitsToTheirPidfds(t *testing.T) {
	sh := lookSh(t)
	const delay = 100 * time.Millisecond
	r := hinted(t, delay)
	keep := start(t, r.Spawner, "hold", ProcSpec{}) // keeps the exit watch running
	if !r.hinting.Load() {
		t.Fatalf("no exit watch with a worker running: %v", r.xwErr)
	}
	tid := r.xw.tid
	const rounds, n = 10, 6
	for i := range rounds {
		ws := make([]*sleeper, n+1)
		for j := range ws {
			ws[j] = startSleeper(t, r.Spawner, sh)
		}
		r.xw.flush()
		proctest.Eventually(t, fmt.Sprintf("%d pidfds in the exit watch's fd table", n+2), func() bool {
			pidfds := 0
			for _, target := range threadFDs(t, tid) {
				if target == "anon_inode:[pidfd]" {
					pidfds++
				}
			}
			return pidfds == n+2
		})
		ws[n].in.Close() // its SIGCHLD arms the backstop
		<-ws[n].done
		armed := time.Now()
		r.HoldReaps()
		walks := r.walks.Load()
		for _, w := range ws[:n] {
			w.in.Close()
		}
		for _, w := range ws[:n] {
			waitZombie(t, w.p.Pid)
		}
		// The backstop's timer fires while the reaps are held; its
		// walk waits for the release.
		proctest.Eventually(t, "the backstop's delay to pass", func() bool { return time.Since(armed) > delay })
		r.ReleaseReaps()
		for _, w := range ws[:n] {
			<-w.done
		}
		if got := r.walks.Load() - walks; got > 1 {
			t.Fatalf("round %d: %d walks of the children while %d workers with pidfds ended, want at most 1 (the backstop's)", i, got, n)
		}
	}
	if err := syscall.Kill(keep.p.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	keep.wait(t)
}
