package watcher

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defect (tester, limits §2): the log line of an early death said
// uptime=0s for a worker stopped after failing every health check it had
// for 2.5s: the early verdict was passed as a zero uptime. It now says
// the worker's real uptime, and the death still counts as early.
func TestEarlyDeathLogsTheRealUptime(t *testing.T) {
	var buf bytes.Buffer
	s := spec(1)
	s.HealthCheck = "tcp"
	s.HealthAddress = "127.0.0.1:1"
	s.HealthThreshold = 2
	s.BackoffReset = time.Second // the health checks outlive it: still early
	h := newFakeHost()
	w, err := New(s, Sockets{}, h, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn}))
	if err != nil {
		t.Fatal(err)
	}
	h.seen, w.spawnWindow = w, 0
	w.Start()
	pid := w.Pids()[0]
	h.now = h.now.Add(2500 * time.Millisecond)
	w.Fire(h.takeTimers(TimerHealth)[0])
	c := h.checks[0]
	w.Checked(c, errors.New("refused"))
	w.Checked(c, errors.New("refused"))
	w.Exited(pid, -15)
	var line string
	for l := range strings.Lines(buf.String()) {
		if strings.Contains(l, "worker ended soon after start") {
			line = l
		}
	}
	if !strings.Contains(line, "uptime=2.5s") {
		t.Fatalf("log line %q, want uptime=2.5s; log:\n%s", line, buf.String())
	}
	if sl := w.Slots(); len(sl) != 1 || sl[0].State != string(HoldBackoff) {
		t.Fatalf("slots %+v, want wid 1 in backoff (an early death)", sl)
	}
}
