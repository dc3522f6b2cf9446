package watcher

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// When many slots are in trouble at once (a pids limit, a bad deploy),
// Reason words the first ones and counts the rest: joined, 15 slots'
// reasons made a 5 KB status line.
func TestReasonCountsManyTroubledSlots(t *testing.T) {
	w, h := newWatcher(t, spec(12))
	h.failAlways = errors.New("fork: resource temporarily unavailable")
	w.Start()
	r := w.Reason()
	if !strings.Contains(r, "wid 1 is flapping: spawn error: fork") || !strings.Contains(r, "wid 2 is flapping") {
		t.Fatalf("reason %q does not word the first slots", r)
	}
	if strings.Contains(r, "wid 3 is flapping") {
		t.Errorf("reason words a third slot: %q", r)
	}
	if want := "and 10 more troubled slots (wids 3, 4, 5, 6, 7, 8, 9, 10, ...): `poolctl status web` shows each"; !strings.Contains(r, want) {
		t.Errorf("reason %q\nwant it to say %q", r, want)
	}
	if len(r) > 600 {
		t.Errorf("reason is %d bytes", len(r))
	}
}

// One slot beyond those worded is "1 more troubled slot (wid 3)", not
// "1 more troubled slots" as a crash loop of 3 workers showed.
func TestReasonCountsOneMoreTroubledSlot(t *testing.T) {
	w, h := newWatcher(t, spec(3))
	h.failAlways = errors.New("fork: resource temporarily unavailable")
	w.Start()
	if r, want := w.Reason(), "and 1 more troubled slot (wid 3): `poolctl status web` shows each"; !strings.Contains(r, want) {
		t.Errorf("reason %q\nwant it to say %q", r, want)
	}
}

// A worker that could not be started never ran: the log says so, not
// that it "ended soon after start" with uptime=0s.
func TestSpawnErrorLogSaysNotStarted(t *testing.T) {
	var buf bytes.Buffer
	h := newFakeHost()
	w, err := New(spec(1), Sockets{}, h, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn}))
	if err != nil {
		t.Fatal(err)
	}
	h.seen = w
	h.failAlways = errors.New("fork: resource temporarily unavailable")
	w.Start()
	log := buf.String()
	if !strings.Contains(log, "worker could not be started; restarting its slot after a delay") || strings.Contains(log, "ended soon after start") || strings.Contains(log, "uptime=") {
		t.Errorf("log of a spawn error:\n%s\nwant it to say the worker could not be started, without an uptime", log)
	}
}

// A crash loop's reason says where the dead workers' output (the
// traceback) is, as an abandoned reload's does; it said only "exited with
// status 3", and the operator had to know about `poolctl logs --wid`. A
// slot whose program could not be started has no output to point to.
func TestFlappingReasonNamesTheOutput(t *testing.T) {
	w, h := newWatcher(t, spec(1))
	w.Start()
	var last int
	for i := 0; i < 3; i++ {
		last = w.Pids()[0]
		w.Exited(last, 3)
		for _, tm := range h.takeTimers(TimerRespawn) {
			h.now = h.now.Add(h.delays[tm])
			w.Fire(tm)
		}
	}
	want := fmt.Sprintf("; see its output: poolctl logs web --wid 1, or poold's log (pid=%d)", last)
	if st, r := w.Status(), w.Reason(); st != Flapping || !strings.HasPrefix(r, "wid 1 is flapping: exited with status 3; 3 early deaths in a row") || !strings.HasSuffix(r, want) {
		t.Fatalf("status %v, reason %q; want flapping, ending with %q", st, r, want)
	}
	h.failAlways = errors.New(`command "/nonexistent/prog" not found`)
	w.Exited(w.Pids()[0], 3)
	for _, tm := range h.takeTimers(TimerRespawn) {
		h.now = h.now.Add(h.delays[tm])
		w.Fire(tm)
	}
	if r := w.Reason(); !strings.Contains(r, "spawn error") || strings.Contains(r, "see its output") {
		t.Fatalf("reason %q; want the spawn error, without pointing to output", r)
	}
}

// A one-shot that ended as configured logged two WARN lines a run (a
// host alerting on WARN was paged for every successful migration); one
// that failed still warns.
func TestOneShotThatEndedWellIsNoWarning(t *testing.T) {
	for _, tc := range []struct {
		status int
		warn   bool
	}{{0, false}, {3, true}} {
		var buf bytes.Buffer
		s := spec(1)
		s.Respawn = false
		h := newFakeHost()
		w, err := New(s, Sockets{}, h, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn}))
		if err != nil {
			t.Fatal(err)
		}
		h.seen = w
		w.Start()
		w.Exited(w.Pids()[0], tc.status)
		if w.Status() != Stopped {
			t.Fatalf("exit %d: %v, want stopped", tc.status, w.Status())
		}
		if got := strings.Contains(buf.String(), "[WARN]"); got != tc.warn {
			t.Errorf("one-shot exit %d: WARN logged %v, want %v:\n%s", tc.status, got, tc.warn, buf.String())
		}
	}
}
