package watcher

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A settled watcher's state survives the trip through JSON to a new
// watcher: the same workers and slots (a backoff hold with what was left
// of it), no new spawn, and the deadlines armed again: max_age from each
// worker's start, the backoff's respawn, health rounds.
func TestSnapshotAdoptRoundTrip(t *testing.T) {
	s := spec(3)
	s.MaxAge = time.Hour
	s.HealthCheck, s.HealthURL = "http", "http://127.0.0.1:1/health"
	s.FlappingAttempts = 0
	w, h := newWatcher(t, s)
	w.Start()
	w.SetTarget(4) // a run-time change
	victim := pidsIn(w, ProcReady)[0]
	w.Exited(victim, 1) // soon after start: a backoff hold
	if len(h.takeTimers(TimerRespawn)) != 1 || w.Frozen() != nil {
		t.Fatalf("want one slot in backoff and a settled watcher: %v", w.Frozen())
	}
	h.now = h.now.Add(20 * time.Millisecond)
	st := throughJSON(t, w.Snapshot(h.now))
	w2, h2 := newWatcher(t, st.Spec)
	h2.now = h.now.Add(30 * time.Minute)
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	if len(h2.spawned) != 0 {
		t.Errorf("adopting spawned %v", h2.spawned)
	}
	if got, want := records(w2), records(w); !reflect.DeepEqual(got, want) || w2.Status() != w.Status() || w2.Target() != 4 {
		t.Errorf("adopted %v %v target %d, want %v %v target 4", got, w2.Status(), w2.Target(), want, w.Status())
	}
	if got, want := slotRows(w2), slotRows(w); !reflect.DeepEqual(got, want) {
		t.Errorf("slots %v, want %v", got, want)
	}
	ages := h2.takeTimers(TimerMaxAge)
	if len(ages) != 3 {
		t.Fatalf("%d max_age timers, want 3 (one per ready worker)", len(ages))
	}
	if d := h2.delays[ages[0]]; d > 30*time.Minute || d < 29*time.Minute {
		t.Errorf("max_age armed in %v, want what is left of the hour: 30m", d)
	}
	respawn := h2.takeTimers(TimerRespawn)
	if len(respawn) != 1 {
		t.Fatalf("%d respawn timers, want 1", len(respawn))
	}
	if len(h2.takeTimers(TimerHealth)) != 1 {
		t.Errorf("no health round armed")
	}
	w2.Fire(respawn[0])
	if len(w2.Pids()) != 4 || len(h2.spawned) != 1 {
		t.Errorf("after the backoff: pids %v, spawned %v; want the held slot refilled", w2.Pids(), h2.spawned)
	}
}

// A graceful stop in flight is handed over: the new watcher SIGKILLs at
// the old deadline, and the stop completes once the workers are gone.
func TestAdoptGracefulStopKeepsItsDeadline(t *testing.T) {
	s := spec(2)
	s.GracefulTimeout = 30 * time.Second
	w, h := newWatcher(t, s)
	w.Start()
	w.Stop()
	if err := w.Frozen(); err != nil {
		t.Fatalf("Frozen during a graceful stop: %v", err)
	}
	h.now = h.now.Add(10 * time.Second)
	raw, _ := json.Marshal(w.Snapshot(h.now))
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	w2, h2 := newWatcher(t, st.Spec)
	h2.now = h.now
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	if w2.Status() != Stopping {
		t.Fatalf("status %v, want stopping", w2.Status())
	}
	kills := h2.takeTimers(TimerKill)
	if len(kills) != 2 || h2.delays[kills[0]] != 20*time.Second {
		t.Fatalf("kill timers %v (first in %v), want 2 in 20s", kills, h2.delays[kills[0]])
	}
	w2.Fire(kills[0])
	w2.Fire(kills[1])
	if n := strings.Count(strings.Join(h2.signals, " "), ":KILL"); n != 2 {
		t.Errorf("signals %v, want 2 KILL", h2.signals)
	}
	for _, pid := range w2.Pids() {
		w2.Exited(pid, -9)
	}
	if w2.Status() != Stopped {
		t.Errorf("status %v after the exits, want stopped", w2.Status())
	}
}

// A rolling reload in flight is not handed over.
func TestFrozenRefusesWorkInFlight(t *testing.T) {
	s := spec(2)
	s.Readiness = "delay" // the new workers are not ready yet
	w2, _ := newWatcher(t, s)
	w2.Start()
	w2.Reload(true, false)
	if err := w2.Frozen(); err == nil || !strings.Contains(err.Error(), "rolling reload") {
		t.Errorf("Frozen during a rolling reload: %v", err)
	}
}

// records are the workers as the protocol shows them.
func records(w *Watcher) []string {
	var out []string
	for _, p := range w.Processes() {
		out = append(out, fmt.Sprint(p.Pid, p.Wid, p.State, p.Started.Unix(), p.Restarts, p.Gen, p.Recycle))
	}
	return out
}

// slotRows are the slots without their retry and kill times (the clocks
// differ).
func slotRows(w *Watcher) []SlotInfo {
	out := w.Slots()
	for i := range out {
		out[i].RetryAt, out[i].KillAt = time.Time{}, time.Time{}
	}
	return out
}

// A flapping watcher's reason still says where its last worker's output
// is after an upgrade: the slot hands over that worker's pid too.
func TestAdoptKeepsTheOutputHintOfAFlappingSlot(t *testing.T) {
	w, h := newWatcher(t, spec(1))
	w.Start()
	for i := 0; i < 10 && w.Status() != Flapping; i++ {
		pids := pidsIn(w, ProcReady)
		if len(pids) == 0 {
			for _, id := range h.takeTimers(TimerRespawn) {
				w.Fire(id)
			}
			continue
		}
		w.Exited(pids[0], 1)
	}
	if w.Status() != Flapping || !strings.Contains(w.Reason(), "see its output") {
		t.Fatalf("status %v, reason %q; want flapping with where its output is", w.Status(), w.Reason())
	}
	st := throughJSON(t, w.Snapshot(h.now))
	w2, _ := newWatcher(t, st.Spec)
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	if w2.Reason() != w.Reason() {
		t.Errorf("reason after the handover:\n%s\nwant:\n%s", w2.Reason(), w.Reason())
	}
}

// throughJSON is st as the new image reads it.
func throughJSON(t *testing.T, st State) State {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out State
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Whether a start ran the watcher is handed over: one with autostart =
// false that ran and was stopped counts for readiness in the new image
// too, and one that never ran does not; an older image's state (no
// started) counts a watcher that runs as started.
func TestAdoptKeepsStarted(t *testing.T) {
	for _, tc := range []struct {
		name        string
		start, stop bool
		dropStarted bool
		wantStarted bool
	}{
		{"never started", false, false, false, false},
		{"started, then stopped", true, true, false, true},
		{"running, from an older image", true, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(1)
			s.Autostart = false
			w, h := newWatcher(t, s)
			if tc.start {
				w.Start()
			}
			if tc.stop {
				w.Stop()
				w.Exited(w.Pids()[0], 0)
			}
			st := throughJSON(t, w.Snapshot(h.now))
			if tc.dropStarted {
				st.Started = false
			}
			w2, _ := newWatcher(t, st.Spec)
			if err := w2.Adopt(st); err != nil {
				t.Fatal(err)
			}
			if w2.Started() != tc.wantStarted {
				t.Errorf("adopted Started() = %v, want %v (status %s)", w2.Started(), tc.wantStarted, w2.Status())
			}
		})
	}
}

// A rolling reload held by old workers still draining (long connections:
// they count against max_surge) said only "in flight", and an upgrade was
// refused at 90 s without a word of why or for how long (review r58).
func TestFrozenSaysDrainingWorkersHoldTheReload(t *testing.T) {
	s := spec(1)
	s.Readiness = "delay" // the second reload's new worker is not ready yet
	w, _ := newWatcher(t, s)
	w.Start()
	w.Reload(true, false) // the first worker drains: it is not reaped here
	w.Reload(true, false)
	err := w.Frozen()
	if err == nil || !strings.Contains(err.Error(), "old workers still draining") || !strings.Contains(err.Error(), "graceful_timeout = 30s") {
		t.Errorf("Frozen with a worker draining under a reload: %v", err)
	}
}
