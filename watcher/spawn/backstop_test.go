package spawn

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// backstopRig runs a spawner whose exit watch starts with its first
// worker and whose backstop walk is due delay after the latest SIGCHLD or
// start, at most span after the SIGCHLD that armed it, with one worker
// that keeps the exit watch running until the test ends.
func backstopRig(t *testing.T, delay, span time.Duration) *running {
	t.Helper()
	s := New(self(t))
	s.xwMin, s.backstopDelay, s.backstopSpan = 1, delay, span
	r := runSpawnerOf(t, s)
	keep := start(t, r.Spawner, "hold", ProcSpec{})
	if !r.hinting.Load() {
		t.Fatalf("no exit watch with a worker running: %v", r.xwErr)
	}
	t.Cleanup(func() { // before runSpawnerOf's: the spawner still reaps it
		if err := syscall.Kill(keep.p.Pid, syscall.SIGTERM); err != nil {
			t.Error(err)
		}
		keep.wait(t)
	})
	return r
}

// waitPidfds flushes the exit watch's batch and waits until its thread
// tid holds n pidfds: every worker started is in the watch.
func waitPidfds(t *testing.T, r *running, tid, n int) {
	t.Helper()
	r.xw.flush()
	proctest.Eventually(t, fmt.Sprintf("%d pidfds in the exit watch's fd table", n), func() bool {
		return pidfds(t, tid) == n
	})
}

// The backstop walk finds what has no pidfd: the workers the exit watch
// names are reaped on their own first. Each round arms the backstop (a
// worker's SIGCHLD), holds the reaps while its workers end and the
// backstop comes due, and releases them: the SIGCHLD and the backstop are
// then ready together. Walked first, the workers cost a walk each (a walk
// reaps what it finds ended and walks again from the first child).
func TestBackstopLeavesHintedExitsToTheirPidfds(t *testing.T) {
	sh := lookSh(t)
	const delay = 100 * time.Millisecond
	r := backstopRig(t, delay, backstopSpan)
	tid := r.xw.tid
	const rounds, n = 10, 6
	for i := range rounds {
		ws := make([]*sleeper, n+1)
		for j := range ws {
			ws[j] = startSleeper(t, r.Spawner, sh)
		}
		waitPidfds(t, r, tid, n+2)
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
}

// A run of exits that the exit watch reaps, each SIGCHLD well within the
// backstop's delay of the one before, is walked once, after the last, not
// once every delay while it goes on: in a burst of kill -9s the walks of
// 10,000 children ran on the spawner's thread between the replacements'
// forks.
func TestBackstopWalksOnceAfterARunOfExits(t *testing.T) {
	sh := lookSh(t)
	const delay, gap, n = 400 * time.Millisecond, 25 * time.Millisecond, 100
	r := backstopRig(t, delay, time.Hour)
	tid := r.xw.tid
	ws := make([]*sleeper, n)
	for i := range ws {
		ws[i] = startSleeper(t, r.Spawner, sh)
	}
	waitPidfds(t, r, tid, n+1)
	walks := r.walks.Load()
	tick := time.NewTicker(gap) // the pace of the run: 40 delays long in all
	defer tick.Stop()
	t0 := time.Now()
	var stalls int // gaps longer than delay (a loaded machine): a walk each
	last := t0
	for _, w := range ws {
		<-tick.C
		if time.Since(last) > delay {
			stalls++
		}
		w.in.Close()
		<-w.done
		last = time.Now()
	}
	took := time.Since(t0)
	proctest.Eventually(t, "the backstop's walk after the run", func() bool { return r.walks.Load() > walks })
	if got := r.walks.Load() - walks; got > int64(2+stalls) {
		t.Fatalf("%d walks of the children while %d workers with pidfds ended one by one over %v (%d gaps over %v), want 1 after the run",
			got, n, took, stalls, delay)
	}
}

// The backstop is due delay after the latest SIGCHLD or start, but no
// later than span (or delay, if longer) after the SIGCHLD that armed it.
func TestBackstopWait(t *testing.T) {
	first := time.Unix(1000, 0)
	ms := time.Millisecond
	for _, c := range []struct {
		busy, now   time.Duration // after first
		delay, span time.Duration
		want        time.Duration
	}{
		{0, 0, 50 * ms, 250 * ms, 50 * ms},
		{0, 50 * ms, 50 * ms, 250 * ms, 0},
		{40 * ms, 50 * ms, 50 * ms, 250 * ms, 40 * ms},
		{200 * ms, 220 * ms, 50 * ms, 250 * ms, 30 * ms},
		{240 * ms, 300 * ms, 50 * ms, 250 * ms, 0},
		{10 * ms, 10 * ms, 100 * ms, 20 * ms, 90 * ms}, // span shorter than delay: delay from first
	} {
		if got := backstopWait(first, first.Add(c.busy), first.Add(c.now), c.delay, c.span); got != c.want {
			t.Errorf("backstopWait(first, first+%v, first+%v, %v, %v) = %v, want %v", c.busy, c.now, c.delay, c.span, got, c.want)
		}
	}
}

// Starts served after a SIGCHLD put the backstop's walk off until they
// pause: in a burst, the walk of every child came between the
// replacements' forks, on the same thread.
func TestBackstopWaitsForStartsToPause(t *testing.T) {
	sh := lookSh(t)
	const delay, gap, n = 400 * time.Millisecond, 25 * time.Millisecond, 100
	r := backstopRig(t, delay, time.Hour)
	w := startSleeper(t, r.Spawner, sh)
	walks := r.walks.Load()
	w.in.Close() // its SIGCHLD arms the backstop
	<-w.done
	tick := time.NewTicker(gap) // the pace of the starts: 6 delays long in all
	defer tick.Stop()
	t0 := time.Now()
	var stalls int // gaps longer than delay (a loaded machine): a walk each
	last := t0
	for range n {
		<-tick.C
		if time.Since(last) > delay {
			stalls++
		}
		startSleeper(t, r.Spawner, sh)
		last = time.Now()
	}
	took := time.Since(t0)
	during := r.walks.Load() - walks
	proctest.Eventually(t, "the backstop's walk after the starts", func() bool { return r.walks.Load() > walks })
	if during > int64(stalls) {
		t.Fatalf("%d walks of the children while %d workers started over %v after a SIGCHLD (%d gaps over %v), want none until they pause",
			during, n, took, stalls, delay)
	}
}
