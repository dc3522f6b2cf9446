package watcher

import (
	"testing"
	"time"
)

// TestAdoptedElasticPoolKeepsItsScaleHistory: an in-place upgrade handed
// over an elastic pool's size but not its scaling: status lost its last
// scale, /metrics' scale_events_total fell back to 0 for the same pool
// (a counter reset to Prometheus), and the cooldowns began again at the
// upgrade. Now a pool whose queue has stayed empty for 8 of its 10 s of
// scale_down_cooldown shrinks 2.5 s after the upgrade, as it would have
// without it, with its counts carried on.
func TestAdoptedElasticPoolKeepsItsScaleHistory(t *testing.T) {
	s := spec(2)
	s.MinWorkers, s.MaxWorkers, s.ScaleDownCooldown = 1, 5, 10*time.Second
	w, h := newWatcher(t, s)
	w.Start()
	w.SetTarget(4) // grown: a scale event
	h.now = h.now.Add(time.Second)
	w.Demand(Load{Conns: 0}) // the first reading: the clocks start
	h.now = h.now.Add(8 * time.Second)
	w.Demand(Load{Conns: 0}) // 8 s empty: no shrink yet
	before := w.Size()
	if before.Current != 4 || before.Ups != 1 || before.At.IsZero() {
		t.Fatalf("before the upgrade: %+v, want 4 workers after one growth", before)
	}

	st := throughJSON(t, w.Snapshot(h.now))
	w2, h2 := newWatcher(t, st.Spec)
	h2.now = h.now
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	after := w2.Size()
	if after.Count != before.Count || after.Ups != before.Ups || after.Downs != before.Downs ||
		!after.At.Equal(before.At) || after.Reason != before.Reason || after.From != before.From || after.To != before.To {
		t.Fatalf("adopted scale history %+v, want the old image's %+v", after, before)
	}
	h2.now = h2.now.Add(2500 * time.Millisecond)
	w2.Demand(Load{Conns: 0})
	if got := w2.Size(); got.Current != 3 || got.Downs != before.Downs+1 || got.Count != before.Count+1 {
		t.Errorf("10.5 s after the queue emptied (2.5 s after the upgrade): %d workers, %d shrinks, %d changes; want 3, %d, %d (scale_down_cooldown 10s counted from before the upgrade)",
			got.Current, got.Downs, got.Count, before.Downs+1, before.Count+1)
	}
}
