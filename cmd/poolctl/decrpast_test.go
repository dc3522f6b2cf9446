package main

import (
	"strings"
	"testing"
)

// TestDecrPastThePoolWarns: `decr web 99999` took a pool of 2 to 0 and
// exited 0 without a word, a slip of the finger that stops a service.
// poold still stops at 0, as circusd does, but now says the size the
// pool had, and poolctl warns on stderr that every worker stops. A decr
// within the pool's size says nothing more.
func TestDecrPastThePoolWarns(t *testing.T) {
	p := startPoold(t) // web: 2 workers
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "1\n" || r.stderr != "" {
		t.Errorf("decr web 1 of 2: %v, want 1 and no warning", r)
	}
	r := p.ctl(t, "decr", "web", "99999")
	want := "poolctl: warning: decr asked for more than the pool's 1 worker, so it now has 0: every worker of it stops; poolctl incr NAME N starts some again\n"
	if r.stdout != "0\n" || r.stderr != want {
		t.Errorf("decr web 99999 of 1: %v\nwant stdout 0 and stderr %q", r, want)
	}
	// A pool already at 0 has no worker to stop: nothing to warn of.
	if r := p.ctl(t, "--json", "decr", "web", "5"); strings.Contains(r.stdout, `"previous"`) || r.stderr != "" {
		t.Errorf("decr web 5 of 0, --json: %v, want no previous and no warning", r)
	}
	if r := p.ctl(t, "decr", "web", "5"); r.stdout != "0\n" || r.stderr != "" {
		t.Errorf("decr web 5 of 0: %v, want 0 and no warning", r)
	}
}

// TestDecrOfAnEmptyPoolSaysNothing: an older poold sends previous 0 for
// a decr of a pool already at 0; poolctl warned that every worker of it
// stops, though none was running.
func TestDecrOfAnEmptyPoolSaysNothing(t *testing.T) {
	if got := scaleWarnings("decr", reply{"numprocesses": 0.0, "previous": 0.0}); got != nil {
		t.Errorf("decr of a pool of 0: %q, want no warning", got)
	}
	want := "warning: decr asked for more than the pool's 1 worker, so it now has 0: every worker of it stops; poolctl incr NAME N starts some again"
	if got := scaleWarnings("decr", reply{"numprocesses": 0.0, "previous": 1.0}); len(got) != 1 || got[0] != want {
		t.Errorf("decr of a pool of 1: %q, want %q", got, want)
	}
}
