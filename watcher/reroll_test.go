package watcher

import (
	"fmt"
	"slices"
	"testing"

	"github.com/poold/poold/events"
)

// TestReloadDuringReloadKeepsTheReadyWorkers: a reload issued while the
// previous one's new workers are still starting must stop those (they
// serve nobody), never the ready workers that do serve. It used to count
// every old worker as capacity and stop the highest wids first: when the
// serving workers held the higher wids, all of them stopped at once and
// nothing served until the newest batch was ready.
func TestReloadDuringReloadKeepsTheReadyWorkers(t *testing.T) {
	w, _ := startedReady(t, 2) // max_surge: the default, 100%
	readyAll := func() { readyStarting(w) }
	exitStopping := func() {
		for _, pid := range pidsIn(w, ProcStopping) {
			w.Exited(pid, -15)
		}
	}
	w.Reload(true, false) // a first reload: the serving workers move to wids 3 and 4
	readyAll()
	exitStopping()
	serving := pidsIn(w, ProcReady)
	if got := fmt.Sprint(wids(w, ProcReady)); got != "[3 4]" || !w.Settled() {
		t.Fatalf("after the first reload: ready wids %s, want [3 4]; %v", got, w.Processes())
	}

	w.Reload(true, false) // a second: its workers start in wids 1 and 2
	superseded := pidsIn(w, ProcStarting)
	w.Reload(true, false) // a third, before those are ready
	if got := pidsIn(w, ProcReady); fmt.Sprint(got) != fmt.Sprint(serving) {
		t.Fatalf("third reload: ready %v, want the serving workers %v kept; stopping %v", got, serving, pidsIn(w, ProcStopping))
	}
	if got := pidsIn(w, ProcStopping); fmt.Sprint(got) != fmt.Sprint(superseded) {
		t.Errorf("third reload: stopping %v, want the second reload's unready workers %v", got, superseded)
	}
	exitStopping()
	readyAll()
	exitStopping()
	if len(pidsIn(w, ProcReady)) != 2 || !w.Settled() || w.ReloadError() != nil {
		t.Fatalf("after the third reload: %v settled=%v err=%v", w.Processes(), w.Settled(), w.ReloadError())
	}
	for _, pid := range pidsIn(w, ProcReady) {
		for _, old := range serving {
			if pid == old {
				t.Errorf("pid %d of the first reload still serves", pid)
			}
		}
	}
}

// TestConfigRolloutEndsWithReload: workers replaced for a changed spec (a
// config reload, a set of cmd) end with Circus's reload event, as a
// reload command's do (once the old workers are told to stop). It used
// to end without any, so a subscriber never learned the new spec serves.
func TestConfigRolloutEndsWithReload(t *testing.T) {
	w, h := startedReady(t, 2)
	upd := w.Spec()
	upd.Args = []string{"--new"}
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	h.events = nil
	readyStarting(w)
	for _, pid := range pidsIn(w, ProcStopping) {
		w.Exited(pid, -15)
	}
	if !w.Settled() || !slices.Contains(h.events, string(events.KindReload)) {
		t.Errorf("events after the update: %v, want a reload once the new workers serve", h.events)
	}
}

// startedReady starts a watcher of n notify workers and makes them ready.
func startedReady(t *testing.T, n int) (*Watcher, *fakeHost) {
	t.Helper()
	w, h, _ := startedNotify(t, spec(n))
	return w, h
}
