package watcher

import (
	"testing"

	"github.com/poold/poold/configs"
)

// A rollout's bound is a count: numprocesses + max_surge workers at most,
// draining ones included (README, max_surge). It was a range of wids,
// 1..numprocesses+max_surge: after a default (100 %) reload the workers
// hold wids n+1..2n, every wid of 1..n is free, and a --sequential
// reload, or one after max_surge was lowered, started the whole pool at
// once (2n workers where n+1 were allowed; the longconn trial, r61).
func TestSurgeCountsWorkersWhateverTheirWids(t *testing.T) {
	sequential := func(t *testing.T, w *Watcher) { w.Reload(true, true) }
	cases := []struct {
		name  string
		n     int
		surge int                    // the bound beyond n
		conf  func(*configs.Watcher) // before the start
		// upgrade: the first reload's old workers still drain when a
		// new image adopts the pool.
		upgrade bool
		roll    func(t *testing.T, w *Watcher)
	}{
		{name: "reload --sequential", n: 4, surge: 1, roll: sequential},
		{name: "max_surge 1, reload", n: 4, surge: 1, roll: func(t *testing.T, w *Watcher) {
			setSurge(t, w, configs.SurgeOf(1), nil)
			w.Reload(true, false)
		}},
		{name: "max_surge 1 and a change that rolls (set, config reload)", n: 4, surge: 1, roll: func(t *testing.T, w *Watcher) {
			setSurge(t, w, configs.SurgeOf(1), []string{"--new"})
		}},
		{name: "max_surge 50%, reload", n: 4, surge: 2, roll: func(t *testing.T, w *Watcher) {
			setSurge(t, w, configs.Surge{Percent: 50}, nil)
			w.Reload(true, false)
		}},
		{name: "elastic pool, reload --sequential", n: 4, surge: 1, roll: sequential,
			conf: func(s *configs.Watcher) { s.MaxWorkers = 8 }},
		{name: "upgrade during the drain, reload --sequential", n: 4, surge: 1, upgrade: true, roll: sequential},
		{name: "singleton, reload", n: 1, surge: 0, roll: func(t *testing.T, w *Watcher) { w.Reload(true, false) },
			conf: func(s *configs.Watcher) { s.Singleton = true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec(c.n) // max_surge: the default, 100%
			if c.conf != nil {
				c.conf(&s)
			}
			w, h, _ := startedNotify(t, s)
			w.Reload(true, false) // the workers move to wids n+1..2n
			readyStarting(w)
			if c.upgrade {
				st := throughJSON(t, w.Snapshot(h.now))
				w, h = newWatcher(t, st.Spec)
				if err := w.Adopt(st); err != nil {
					t.Fatal(err)
				}
			}
			exitAllStopping(w)
			readyStarting(w) // a singleton's new worker starts once its old one is gone
			if got := wids(w, ProcReady); len(got) != c.n || !w.Settled() {
				t.Fatalf("after a 100%% reload: ready wids %v, want %d workers", got, c.n)
			}
			if got := wids(w, ProcReady); !s.Singleton && got[0] != c.n+1 {
				t.Fatalf("after a 100%% reload: ready wids %v, want %d..%d", got, c.n+1, 2*c.n)
			}
			h.peak = 0
			c.roll(t, w)
			// One batch at a time: its new workers ready, then its old
			// ones exit one by one (each drains on its own time).
			for i := 0; i < 4*c.n+4 && !w.Settled(); i++ {
				if live := len(w.Pids()); live > c.n+c.surge {
					t.Fatalf("step %d: %d workers run, want at most %d: starting wids %v, ready %v, stopping %v",
						i, live, c.n+c.surge, wids(w, ProcStarting), wids(w, ProcReady), wids(w, ProcStopping))
				}
				if starting := pidsIn(w, ProcStarting); len(starting) > 0 {
					readyStarting(w)
					continue
				}
				stopping := pidsIn(w, ProcStopping)
				if len(stopping) == 0 {
					t.Fatalf("step %d: nothing starting or stopping, not settled: %v", i, w.Processes())
				}
				w.Exited(stopping[0], -15)
			}
			if !w.Settled() || w.ReloadError() != nil || len(pidsIn(w, ProcReady)) != c.n {
				t.Fatalf("after the rollout: %v settled=%v err=%v", w.Processes(), w.Settled(), w.ReloadError())
			}
			if h.peak == 0 || h.peak > c.n+c.surge {
				t.Errorf("%d workers ran at once during the rollout, want 1..%d (numprocesses %d + max_surge %d)", h.peak, c.n+c.surge, c.n, c.surge)
			}
		})
	}
}

// setSurge sets w's max_surge and, with args, its args (which rolls it).
func setSurge(t *testing.T, w *Watcher, surge configs.Surge, args []string) {
	t.Helper()
	upd := w.Spec()
	upd.MaxSurge = surge
	if args != nil {
		upd.Args = args
	}
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
}

// exitAllStopping reports every stopping worker of w exited.
func exitAllStopping(w *Watcher) {
	for _, pid := range pidsIn(w, ProcStopping) {
		w.Exited(pid, -15)
	}
}
