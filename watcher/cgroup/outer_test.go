package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestOuterClaimsOnlyFreshKills: an OOM kill of a worker's child, which
// no worker's end claimed, was claimed by the next SIGKILLed worker
// however much later: an operator's kill -9 half a minute after read
// "killed by the OOM killer". A kill is claimed when counted since the
// last look, or at a look within claimWindow; once older, never.
func TestOuterClaimsOnlyFreshKills(t *testing.T) {
	dir := t.TempDir()
	set := func(kills int) {
		t.Helper()
		body := fmt.Sprintf("low 0\nhigh 0\nmax 3\noom 2\noom_kill %d\n", kills)
		if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte("104857600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set(0)
	now := time.Unix(1000, 0)
	o := &Outer{files: []outerFile{{dir: dir, name: "memory.events", limit: "memory.max"}}, now: func() time.Time { return now }}
	o.seen = o.total()

	set(1) // a worker's child is OOM-killed; the loop's tick sees it
	o.Observe()
	now = now.Add(30 * time.Second)
	if got := o.Claim(); got != "" {
		t.Errorf("a SIGKILL 30s after an OOM kill counted then: Claim = %q, want none", got)
	}

	set(3) // two workers OOM-killed together
	for i := range 2 {
		now = now.Add(100 * time.Millisecond)
		if got := o.Claim(); got == "" {
			t.Errorf("worker %d killed with the OOM count just up by 2: Claim = none", i+1)
		}
	}
	if got := o.Claim(); got != "" {
		t.Errorf("a third SIGKILL, with both kills claimed: Claim = %q, want none", got)
	}

	set(4) // the tick looks first, then the worker's end comes in
	o.Observe()
	now = now.Add(200 * time.Millisecond)
	if got := o.Claim(); got != "poold's cgroup "+dir+" (memory limit 104857600 bytes)" {
		t.Errorf("a SIGKILL 200ms after the tick counted a kill: Claim = %q", got)
	}
}

// TestOuterClaimsShareALook: the SIGKILLed workers of a burst each read
// poold's memory.events, one after another under Outer's lock. Claims
// that come while a look reads the counters now share the next look:
// still begun after each of them came, so a kill counted just before a
// Claim is not missed, but one read for all of them.
func TestOuterClaimsShareALook(t *testing.T) {
	var mu sync.Mutex
	kills, reads := 0, 0
	first := make(chan struct{})
	o := &Outer{now: time.Now, files: []outerFile{{dir: t.TempDir()}}}
	o.read = func() int {
		mu.Lock()
		reads++
		n, r := kills, reads
		mu.Unlock()
		if r == 1 {
			<-first // the first look is reading while the burst comes in
		}
		return n
	}
	firstDone := make(chan string)
	go func() { firstDone <- o.Claim() }()
	proctest.Eventually(t, "the first Claim's look reading", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return reads == 1
	})
	// Two OOM kills, counted after the first look read the counters.
	mu.Lock()
	kills = 2
	mu.Unlock()
	const burst = 20
	got := make(chan string, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- o.Claim()
		}()
	}
	proctest.Eventually(t, "the burst's Claims waiting for a look", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.waiting == burst
	})
	close(first)
	if c := <-firstDone; c != "" {
		t.Errorf("the Claim whose look read before the kills: %q, want none", c)
	}
	wg.Wait()
	close(got)
	claimed := 0
	for c := range got {
		if c != "" {
			claimed++
		}
	}
	if claimed != 2 {
		t.Errorf("%d of the burst's Claims told of an OOM kill, want 2 (the two counted after the first look began)", claimed)
	}
	if reads != 2 {
		t.Errorf("%d reads of the counters for 1+%d Claims, want 2 (the burst shares the look after the first)", reads, burst)
	}
}

// BenchmarkOuterClaimBurst: Claims of many goroutines at once, as in a
// kill -9 of 100 workers; reads per Claim is the figure that sharing
// cuts (one each, before).
func BenchmarkOuterClaimBurst(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	o := &Outer{files: []outerFile{{dir: dir, name: "memory.events", limit: "memory.max"}}, now: time.Now}
	var reads atomic.Int64
	o.read = func() int { reads.Add(1); return o.total() }
	b.SetParallelism(50)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.Claim()
		}
	})
	b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/claim")
}

// TestOuterConsumesAWorkersOwnKill: a worker killed at its own
// memory_max claimed poold's cgroup's OOM kill too, so the next worker
// the container's limit killed read "killed by signal KILL" (r53b-look2:
// 5 of 91 on cgroup v1). Its own kills are taken out where poold's
// counter counts them (v2) and left for the others where it does not
// (v1).
func TestOuterConsumesAWorkersOwnKill(t *testing.T) {
	for _, c := range []struct {
		file      string
		leftAfter bool // a Claim after Consume still gets the kill
	}{
		{"memory.events", false},     // v2: the worker's own kill is in it
		{"memory.oom_control", true}, // v1: it is another process's kill
	} {
		var total atomic.Int64
		o := &Outer{files: []outerFile{{dir: t.TempDir(), name: c.file}}, now: time.Now}
		o.read = func() int { return int(total.Load()) }
		total.Store(1) // one OOM kill counted in poold's cgroup
		o.Consume(1)   // a worker whose own cgroup counted one ended
		if got := o.Claim() != ""; got != c.leftAfter {
			t.Errorf("%s: a SIGKILL after a worker's own OOM kill: claimed %v, want %v", c.file, got, c.leftAfter)
		}
	}
}

// TestOuterHandsOverUnclaimedKills: a kill of poold's cgroup that no
// worker's end claimed within claimWindow was of a worker's child, and
// was dropped without a word (r62 M1). Observe now returns it, once;
// one a worker's end claimed, or a worker's own cgroup counted
// (Consume), it does not.
func TestOuterHandsOverUnclaimedKills(t *testing.T) {
	var total int
	now := time.Unix(1000, 0)
	o := &Outer{files: []outerFile{{dir: t.TempDir(), name: "memory.events", limit: "memory.max"}}, now: func() time.Time { return now }}
	o.read = func() int { return total }

	total = 1 // a worker's child
	if n := o.Observe(); n != 0 {
		t.Errorf("Observe at the kill = %d, want 0: a worker's end may still claim it", n)
	}
	now = now.Add(5 * time.Second)
	if n := o.Observe(); n != 1 {
		t.Errorf("Observe 5s after an unclaimed kill = %d, want 1", n)
	}
	now = now.Add(5 * time.Second)
	if n := o.Observe(); n != 0 {
		t.Errorf("Observe again = %d, want 0: told once", n)
	}

	total = 3 // a worker, claimed at its end, and one its own cgroup counted
	o.Observe()
	if o.Claim() == "" {
		t.Fatal("Claim of a fresh kill: none")
	}
	o.files[0].name = "memory.events" // v2: counts below
	o.Consume(1)
	now = now.Add(5 * time.Second)
	if n := o.Observe(); n != 0 {
		t.Errorf("Observe after a claimed and a consumed kill = %d, want 0", n)
	}
}
