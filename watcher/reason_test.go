package watcher

import (
	"bytes"
	"errors"
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
