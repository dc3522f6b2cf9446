package watcher

import (
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/spawn"
)

// BenchmarkSpawnNotify3k is the watcher's own share of starting 3,000 workers
// (no processes: the fake host hands out pids): the batches of spawnBatch
// turns, each worker reported ready by notify as it comes, as a pool of
// readiness = "notify" workers does. Each event reconciles the pool;
// anything in a reconcile that walks every worker makes this quadratic
// (10,000 workers take about 10x as long as 3,000).
func BenchmarkSpawnNotify3k(b *testing.B) {
	const n = 3000
	s := spec(n)
	s.MaxProcesses = n
	s.Readiness = "notify"
	for b.Loop() {
		h := newFakeHost()
		h.unchecked = true
		w, err := New(s, Sockets{}, h, hclog.NewNullLogger())
		if err != nil {
			b.Fatal(err)
		}
		w.Start()
		readied := 0
		for len(w.Pids()) < n || readied < len(h.spawned) {
			for ; readied < len(h.spawned); readied++ {
				w.Ready(h.spawned[readied])
			}
			for _, t := range h.takeTimers(TimerMore) {
				w.Fire(t)
			}
		}
		if got := len(wids(w, ProcReady)); got != n {
			b.Fatalf("%d ready, want %d", got, n)
		}
	}
}

// BenchmarkSpawn10k is the watcher's own share of starting 10,000 workers
// with the default readiness (spawn): the batches of spawnBatch turns,
// each a reconcile that looks for free wids. Anything there that walks
// every wid or worker per turn makes this quadratic.
func BenchmarkSpawn10k(b *testing.B) {
	for b.Loop() {
		started(b, 10000)
	}
}

// BenchmarkStatus10k is what a `status` asks of a watcher of 10,000
// workers: its status, its reason and its size.
func BenchmarkStatus10k(b *testing.B) {
	w, _ := started(b, 10000)
	for b.Loop() {
		if w.Status() != Active || w.Reason() != "" {
			b.Fatalf("status %s, reason %q", w.Status(), w.Reason())
		}
		_ = w.Size()
	}
}

// BenchmarkKillBurst10k is the watcher's share of 100 kill -9s at once in
// a pool of 10,000 workers that have run a while (so each death is
// replaced at once): 100 exits, each one an event that reconciles the
// pool, and the 100 replacements. Anything that walks every slot or
// worker on each event is paid 100 times over.
func BenchmarkKillBurst10k(b *testing.B) { killBurst(b, false) }

// BenchmarkKillBurst10kHeld is the same burst as the arbiter hands it
// over: the exits queued together, one settle for them (HoldSettle).
func BenchmarkKillBurst10kHeld(b *testing.B) { killBurst(b, true) }

func killBurst(b *testing.B, held bool) {
	const n, kills = 10000, 100
	w, h := started(b, n)
	pids := make([]int, 0, kills)
	for b.Loop() {
		h.now = h.now.Add(time.Hour) // all long-lived: no backoff
		pids = pids[:0]
		for pid := range w.procs {
			if pids = append(pids, pid); len(pids) == kills {
				break
			}
		}
		if held {
			w.HoldSettle()
		}
		for _, pid := range pids {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}})
		}
		if held {
			w.ReleaseSettle()
		}
		for len(w.procs) < n {
			for _, t := range h.takeTimers(TimerMore) {
				w.Fire(t)
			}
		}
	}
}

// started is a started watcher of n workers on a fake host, all spawned.
func started(b *testing.B, n int) (*Watcher, *fakeHost) {
	b.Helper()
	s := spec(n)
	s.MaxProcesses = n
	h := newFakeHost()
	h.unchecked = true
	w, err := New(s, Sockets{}, h, hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	w.spawnWindow = 0 // ready at spawn: the window's timers would be the host's work
	w.Start()
	for len(w.procs) < n {
		for _, t := range h.takeTimers(TimerMore) {
			w.Fire(t)
		}
	}
	return w, h
}
