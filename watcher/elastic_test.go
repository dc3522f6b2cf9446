package watcher

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestScalerDecides walks the autoscaling policy through readings at
// given times: wake from zero, growth by steps within max_workers and
// after the up cooldown, no growth while gated, shrink by steps after the
// queue stayed low for the down cooldown, idle straight to min_workers.
func TestScalerDecides(t *testing.T) {
	spec := configs.DefaultWatcher("p")
	spec.OnDemand, spec.MaxWorkers, spec.NumProcesses = true, 5, 2
	spec.ScaleQueueTarget, spec.ScaleUpStep, spec.ScaleDownStep = 1, 2, 1
	spec.ScaleUpCooldown, spec.ScaleDownCooldown, spec.IdleTimeout = time.Second, 3*time.Second, 10*time.Second
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at     time.Duration
		cur    int
		load   Load
		gated  bool
		to     int
		reason string
	}{
		{0, 0, Load{Queue: 1, Socket: "web"}, false, 2, "on demand: a connection is waiting on socket web"},
		{500 * time.Millisecond, 2, Load{Queue: 5}, false, 2, ""}, // up cooldown
		{1200 * time.Millisecond, 2, Load{Queue: 5}, true, 2, ""}, // gated: new workers not ready
		// +2, scale_up_step, the least growth: the queue's excess 4 at the
		// 4 connections a worker holds (13 open, 5 of them waiting) asks 1.
		{1300 * time.Millisecond, 2, Load{Queue: 5, Conns: 13}, false, 4, "above"},
		{2400 * time.Millisecond, 4, Load{Queue: 5}, false, 5, "above"}, // capped at max 5
		{3500 * time.Millisecond, 5, Load{Queue: 9}, false, 5, ""},      // at max
		{4 * time.Second, 5, Load{Queue: 1, Conns: 7}, false, 5, ""},    // at target: not above
		{6 * time.Second, 5, Load{Queue: 0, Conns: 7}, false, 5, ""},    // low for 2s < 3s
		{7600 * time.Millisecond, 5, Load{Conns: 3}, false, 4, "at or below"},
		{9 * time.Second, 4, Load{Conns: 3}, false, 4, ""}, // down cooldown since the last change
		{10700 * time.Millisecond, 4, Load{Conns: 0}, false, 3, "at or below"},
		{21 * time.Second, 3, Load{Conns: 0}, false, 0, "idle"},
		{22 * time.Second, 0, Load{}, false, 0, ""},
	}
	var s scaler
	for _, st := range steps {
		to, why := s.decide(spec, st.cur, t0.Add(st.at), st.load, st.gated)
		if to != st.to || !strings.Contains(why, st.reason) || (st.reason == "") != (why == "") {
			t.Fatalf("at %v, %d workers, %+v (gated %v): %d %q, want %d %q", st.at, st.cur, st.load, st.gated, to, why, st.to, st.reason)
		}
		if to != st.cur {
			s.changed = t0.Add(st.at)
		}
	}
}

// TestQueueShrinkKeepsAnOnDemandPoolUp: an empty accept queue shrinks an
// on_demand pool to one worker at most. Only idle_timeout (no connection
// waiting or open) takes it to 0, so a kept-alive connection or a long
// request is not cut by the queue rule; with no idle_timeout the pool
// stays up, as a Circus on_demand watcher or a socket-activated service.
func TestQueueShrinkKeepsAnOnDemandPoolUp(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Minute} {
		spec := configs.DefaultWatcher("p")
		spec.OnDemand, spec.MaxWorkers, spec.IdleTimeout = true, 4, idle
		spec.ScaleDownCooldown = time.Second
		t0 := time.Unix(1000, 0)
		var s scaler
		s.decide(spec, 2, t0, Load{Conns: 1}, false)
		if to, why := s.decide(spec, 2, t0.Add(2*time.Second), Load{Conns: 1}, false); to != 1 {
			t.Fatalf("idle_timeout %v: 2 workers, queue empty: %d %q, want 1", idle, to, why)
		}
		s.changed = t0.Add(2 * time.Second)
		if to, why := s.decide(spec, 1, t0.Add(30*time.Second), Load{Conns: 1}, false); to != 1 {
			t.Fatalf("idle_timeout %v: the last worker, a connection open: %d %q, want 1", idle, to, why)
		}
		to, why := s.decide(spec, 1, t0.Add(2*time.Minute), Load{}, false)
		if want := map[bool]int{true: 0, false: 1}[idle > 0]; to != want {
			t.Fatalf("idle_timeout %v: the last worker, idle 90s: %d %q, want %d", idle, to, why, want)
		}
	}
}

func TestBoundsAndClamp(t *testing.T) {
	w := configs.DefaultWatcher("p")
	w.NumProcesses = 6
	if w.Elastic() || w.Clamp(100) != 100 {
		t.Errorf("a fixed pool is not clamped")
	}
	w.MinWorkers, w.MaxWorkers = 2, 4
	if w.InitialSize() != 4 || w.Clamp(0) != 2 || w.Clamp(9) != 4 || w.Capacity() != 6 {
		t.Errorf("initial %d clamp(0) %d clamp(9) %d capacity %d", w.InitialSize(), w.Clamp(0), w.Clamp(9), w.Capacity())
	}
}

// TestScalerBusyTarget: workers' BUSY reports grow the pool past the
// busy share and hold a shrink that would put the smaller pool above it.
func TestScalerBusyTarget(t *testing.T) {
	spec := configs.DefaultWatcher("p")
	spec.MinWorkers, spec.MaxWorkers, spec.ScaleQueueTarget, spec.ScaleBusyTarget = 1, 8, 100, 50
	spec.ScaleUpCooldown, spec.ScaleDownCooldown = 0, time.Second
	t0 := time.Unix(1000, 0)
	var s scaler
	for _, st := range []struct {
		at        time.Duration
		cur, busy int
		reported  bool
		to        int
	}{
		{0, 4, 3, true, 6},                        // 75% busy > 50%: 3 busy are 50% of 6
		{100 * time.Millisecond, 4, 2, true, 4},   // 50%: at the target
		{5 * time.Second, 4, 2, true, 4},          // 2 of 3 would be 67%: no shrink
		{6 * time.Second, 4, 1, true, 3},          // 1 of 3 is 33%: shrink
		{6500 * time.Millisecond, 3, 3, false, 3}, // nobody reports: the queue alone decides (cooldown)
	} {
		to, why := s.decide(spec, st.cur, t0.Add(st.at), Load{Busy: st.busy, Reported: st.reported}, false)
		if to != st.to {
			t.Fatalf("at %v: %d workers, %d busy: %d (%q), want %d", st.at, st.cur, st.busy, to, why, st.to)
		}
		if to != st.cur {
			s.changed = t0.Add(st.at)
		}
	}
}

// TestNewBoundsScaleWithAnEvent: set max_workers 3 on a pool of 6 (or
// min_workers above its size) resized it without a scale event, and the
// last scale and the scale counters went on naming the move before.
func TestNewBoundsScaleWithAnEvent(t *testing.T) {
	s := spec(6)
	s.MinWorkers, s.MaxWorkers = 1, 8
	w, h := newWatcher(t, s)
	w.Start()
	for _, c := range []struct {
		min, max, want int
		event          bool
	}{{1, 3, 3, true}, {5, 8, 5, true}, {2, 8, 5, false}} {
		next := s
		next.MinWorkers, next.MaxWorkers = c.min, c.max
		h.events = nil
		if err := w.Update(next, w.Sockets()); err != nil {
			t.Fatal(err)
		}
		sz := w.Size()
		scaled := slices.Contains(h.events, string(events.KindScale))
		if w.Target() != c.want || scaled != c.event || (c.event && (sz.To != c.want || !strings.HasPrefix(sz.Reason, "bounds changed"))) {
			t.Errorf("bounds %d..%d: target %d, events %v, last scale %d -> %d %q; want %d, a scale event: %v",
				c.min, c.max, w.Target(), h.events, sz.From, sz.To, sz.Reason, c.want, c.event)
		}
	}
}

// TestOneReadingOfAQueueDoesNotGrowThePool: a trickle of requests served
// at once shows a connection in the accept queue in one reading now and
// then (caught between handshake and accept). Growing on that one
// reading, then shrinking after the cooldown, made the pool oscillate
// (2 -> 3 -> 2 -> 3 in 90 s of 3 requests a second), each shrink
// replacing a warm worker. The queue must stay above its target for two
// readings in a row.
func TestOneReadingOfAQueueDoesNotGrowThePool(t *testing.T) {
	spec := configs.DefaultWatcher("p")
	spec.MinWorkers, spec.MaxWorkers, spec.NumProcesses = 2, 6, 2
	spec.ScaleUpCooldown = 0
	t0 := time.Unix(1000, 0)
	var s scaler
	s.decide(spec, 2, t0, Load{Conns: 1}, false)
	for i, tc := range []struct {
		queue, to int
	}{{1, 2}, {0, 2}, {1, 2}, {0, 2}, {2, 2}, {1, 3}} {
		at := t0.Add(time.Duration(i+1) * 100 * time.Millisecond)
		// Both workers hold a connection: none is idle to take the queue.
		if to, why := s.decide(spec, 2, at, Load{Queue: tc.queue, Conns: 2 + tc.queue}, false); to != tc.to {
			t.Fatalf("reading %d (queue %d): size %d (%q), want %d", i+1, tc.queue, to, why, tc.to)
		}
	}
}

// TestScalerGrowsWithTheBacklog: one growth adds enough workers for the
// accept queue at the connections a worker holds (at least 1 each), or
// for the busy share, within max_workers, at least scale_up_step and at
// most scale_up_max_step. It added scale_up_step (1) whatever the queue:
// 1 -> 8 gunicorn sync workers took 7 s with 199 connections waiting.
func TestScalerGrowsWithTheBacklog(t *testing.T) {
	for _, tc := range []struct {
		name             string
		cur, max, target int
		step, maxStep    int
		load             Load
		busyTarget       float64
		to               int
	}{
		{"a burst, connections unknown", 1, 8, 0, 1, 0, Load{Queue: 199, Conns: -1}, 0, 8},
		{"sync workers, one connection each", 1, 16, 0, 1, 0, Load{Queue: 6, Conns: 7}, 0, 7},
		{"threaded workers, 4 connections each", 2, 16, 0, 1, 0, Load{Queue: 6, Conns: 14}, 0, 4},
		{"the excess over the target", 2, 16, 4, 1, 0, Load{Queue: 7, Conns: 9}, 0, 5},
		{"scale_up_step is the least", 2, 16, 0, 4, 0, Load{Queue: 1, Conns: 3}, 0, 6},
		{"scale_up_max_step 1: one at a time", 1, 8, 0, 1, 1, Load{Queue: 199, Conns: 200}, 0, 2},
		{"scale_up_max_step 3", 1, 8, 0, 2, 3, Load{Queue: 199, Conns: 200}, 0, 4},
		{"busy: to the size at the target", 4, 16, 100, 1, 0, Load{Busy: 4, Reported: true}, 50, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := configs.DefaultWatcher("p")
			spec.MinWorkers, spec.MaxWorkers, spec.ScaleQueueTarget = 1, tc.max, tc.target
			spec.ScaleUpStep, spec.ScaleUpMaxStep, spec.ScaleBusyTarget = tc.step, tc.maxStep, tc.busyTarget
			spec.ScaleUpCooldown = 0
			t0 := time.Unix(1000, 0)
			var s scaler
			s.decide(spec, tc.cur, t0, tc.load, false) // the first of two readings in a row
			if to, why := s.decide(spec, tc.cur, t0.Add(100*time.Millisecond), tc.load, false); to != tc.to {
				t.Fatalf("%d workers (max %d), %+v: %d (%q), want %d", tc.cur, tc.max, tc.load, to, why, tc.to)
			}
		})
	}
}

// TestIdleWorkersHoldTheQueueBack: with a connection per request and a
// loaded host, a sync worker can take ms to come back to accept, so a
// connection sits in the queue at two readings in a row while other
// workers hold none. 4 clients on 7 gunicorn workers grew the pool to 8
// (and 2 -> 4 -> 5 with 4 clients), then shrank it after the cooldown:
// 8 scale events in 90 s, each growth a gunicorn boot and each shrink a
// warm worker recycled. The queue grows the pool only by what the idle
// workers (open connections not waiting, fewer than the workers) will not
// take; a burst still grows it at once. A count of the reading lower than
// the queue found it drained (gunicorn sync, a connection per request):
// read as a count from before the queue, it grew 3 workers to 4 under
// one client and to 7 under two.
func TestIdleWorkersHoldTheQueueBack(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cur, target int
		series      []Load // readings 100 ms apart
		to          int
	}{
		{"4 clients on 7 workers", 7, 0, []Load{{Queue: 1, Conns: 4}, {Queue: 1, Conns: 4}, {Queue: 1, Conns: 4}}, 7},
		{"4 clients on 4 workers, one between two requests", 4, 0, []Load{{Queue: 1, Conns: 4}, {Queue: 1, Conns: 4}}, 4},
		{"3 idle workers, 3 waiting", 8, 0, []Load{{Queue: 3, Conns: 8}, {Queue: 3, Conns: 8}}, 8},
		{"3 idle workers, 5 waiting: 2 short", 8, 0, []Load{{Queue: 5, Conns: 10}, {Queue: 5, Conns: 10}}, 10},
		{"over the target by what the idle ones leave", 4, 2, []Load{{Queue: 4, Conns: 7}, {Queue: 4, Conns: 7}}, 5},
		{"every worker holds one: grow", 4, 0, []Load{{Queue: 1, Conns: 5}, {Queue: 1, Conns: 5}}, 5},
		{"a burst on one busy worker", 1, 0, []Load{{Queue: 199, Conns: 200}, {Queue: 199, Conns: 200}}, 16},
		{"a burst, connections unknown", 1, 0, []Load{{Queue: 199, Conns: -1}, {Queue: 199, Conns: -1}}, 16},
		// Fewer open than waiting: counted before the burst came. Unknown.
		{"a burst after the count", 8, 0, []Load{{Queue: 50, Conns: 4}, {Queue: 50, Conns: 4}}, 16},
		// Fewer open than waiting, counted at this reading: the waiting
		// connections were answered and closed between the two (gunicorn
		// sync, a connection per request). wrk -c1 grew 3 to 4, -c2 to 7.
		{"one client, answered before the count", 3, 0, []Load{{Queue: 1, Counted: true}, {Queue: 1, Counted: true}, {Queue: 1, Counted: true}}, 3},
		{"two clients, answered before the count", 3, 0, []Load{{Queue: 2, Conns: 1, Counted: true}, {Queue: 2, Counted: true}, {Queue: 2, Conns: 1, Counted: true}}, 3},
		{"a burst counted at this reading, a few answered", 8, 0, []Load{{Queue: 50, Conns: 46, Counted: true}, {Queue: 50, Conns: 47, Counted: true}}, 16},
		{"more waiting than workers, counted at this reading", 3, 0, []Load{{Queue: 6, Conns: 4, Counted: true}, {Queue: 6, Conns: 5, Counted: true}}, 6},
		{"counted at this reading, every worker holds one", 3, 0, []Load{{Queue: 1, Conns: 4, Counted: true}, {Queue: 1, Conns: 4, Counted: true}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := configs.DefaultWatcher("p")
			spec.MinWorkers, spec.MaxWorkers, spec.ScaleQueueTarget = 1, 16, tc.target
			spec.ScaleUpCooldown, spec.ScaleDownCooldown = 0, time.Hour
			t0 := time.Unix(1000, 0)
			var s scaler
			s.decide(spec, tc.cur, t0, Load{Conns: tc.cur}, false)
			to, why := tc.cur, ""
			for i, l := range tc.series {
				to, why = s.decide(spec, tc.cur, t0.Add(time.Duration(i+1)*100*time.Millisecond), l, false)
				if to != tc.cur {
					break
				}
			}
			if to != tc.to {
				t.Fatalf("%d workers, readings %+v: %d (%q), want %d", tc.cur, tc.series, to, why, tc.to)
			}
		})
	}
}
