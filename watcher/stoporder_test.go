package watcher

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A stop signals the workers oldest first, the order the spawner forked
// them in (which is the order of its thread's children list): a worker
// that replaced a dead one, in a low slot, comes after the workers it
// outlived.
func TestStopSignalsOldestFirst(t *testing.T) {
	w, h := newWatcher(t, spec(40))
	w.Start()
	for len(w.Pids()) < 40 { // a start spawns a turn's worth at a time
		for _, tm := range h.takeTimers(TimerMore) {
			w.Fire(tm)
		}
		h.now = h.now.Add(time.Millisecond)
	}
	h.now = h.now.Add(time.Hour) // long-lived: replaced at once, no backoff
	for _, wid := range []int{7, 3} {
		pid := pidOfWid(t, w, wid)
		w.Exited(pid, -9)
		h.now = h.now.Add(time.Second)
	}
	if n := len(w.Pids()); n != 40 {
		t.Fatalf("%d workers after the replacements, want 40", n)
	}
	var want []string
	for _, pid := range h.spawned {
		if w.Has(pid) {
			want = append(want, fmt.Sprint(pid))
		}
	}
	h.signals = nil
	w.Stop()
	var got []string
	for _, s := range h.signals {
		if pid, sig, _ := strings.Cut(strings.TrimSuffix(s, " (process)"), ":"); sig == "TERM" {
			got = append(got, pid)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("TERM went to\n%v\nwant the spawn order\n%v", got, want)
	}
}

func pidOfWid(t *testing.T, w *Watcher, wid int) int {
	t.Helper()
	for _, p := range w.Processes() {
		if p.Wid == wid {
			return p.Pid
		}
	}
	t.Fatalf("no worker in wid %d: %v", wid, w.Processes())
	return 0
}
