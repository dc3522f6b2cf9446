package watcher

import (
	"testing"
	"time"
)

// An elastic pool handed over to a new image of poold (an in-place
// upgrade) keeps the numprocesses it was configured with apart from the
// size it had grown to: a stop afterwards takes it back to the
// configured 2, not to the 4 it ran at the upgrade; and an on_demand
// pool handed over cold still wakes with its numprocesses of workers.
func TestAdoptedElasticPoolKeepsItsConfiguredSize(t *testing.T) {
	s := spec(2)
	s.MinWorkers, s.MaxWorkers = 1, 5
	w, h := newWatcher(t, s)
	w.Start()
	w.SetTarget(4) // grown (incr, or the autoscaler)
	st := throughJSON(t, w.Snapshot(h.now))
	w2, _ := newWatcher(t, st.Spec)
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	if w2.Target() != 4 {
		t.Fatalf("adopted size %d, want the 4 in force", w2.Target())
	}
	w2.Stop()
	for _, pid := range w2.Pids() {
		w2.Exited(pid, 0)
	}
	if w2.Status() != Stopped || w2.Target() != 2 {
		t.Errorf("after a stop of the adopted pool: %s at %d workers, want stopped at the configured 2", w2.Status(), w2.Target())
	}

	od := spec(3)
	od.OnDemand, od.Sockets = true, []string{"web"}
	c, ch := newWatcher(t, od)
	c.Start()
	st = throughJSON(t, c.Snapshot(ch.now))
	c2, ch2 := newWatcher(t, st.Spec)
	if err := c2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	if sz := c2.Size(); sz.Current != 0 || sz.Max != 3 {
		t.Fatalf("adopted cold pool: %d (max %d), want 0 (max 3)", sz.Current, sz.Max)
	}
	ch2.now = ch2.now.Add(time.Second)
	c2.Demand(Load{Queue: 1, Conns: -1, Socket: "web"})
	if c2.Target() != 3 {
		t.Errorf("adopted cold pool woke to %d workers, want its numprocesses 3", c2.Target())
	}
}
