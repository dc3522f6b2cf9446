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
	want := "poolctl: warning: decr asked for more than the pool's 1 workers, so it now has 0: every worker of it stops; poolctl incr NAME N starts some again\n"
	if r.stdout != "0\n" || r.stderr != want {
		t.Errorf("decr web 99999 of 1: %v\nwant stdout 0 and stderr %q", r, want)
	}
	if r := p.ctl(t, "--json", "decr", "web", "5"); !strings.Contains(r.stdout, `"previous":0`) || !strings.Contains(r.stderr, "warning: decr asked for more than the pool's 0 workers") {
		t.Errorf("decr web 5 of 0, --json: %v", r)
	}
}
