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
	t.Parallel()
	p := startPoold(t) // web: 2 workers
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "1\n" || r.stderr != "" {
		t.Errorf("decr web 1 of 2: %v, want 1 and no warning", r)
	}
	r := p.ctl(t, "decr", "web", "99999")
	want := "poolctl: warning: decr asked for more than the pool's 1 worker, so it now has 0: every worker of it stops; poolctl incr web N starts some again\n"
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
	t.Parallel()
	if got := scaleWarnings("decr", "web", reply{"numprocesses": 0.0, "previous": 0.0}); got != nil {
		t.Errorf("decr of a pool of 0: %q, want no warning", got)
	}
	want := "warning: decr asked for more than the pool's 1 worker, so it now has 0: every worker of it stops; poolctl incr web N starts some again"
	if got := scaleWarnings("decr", "web", reply{"numprocesses": 0.0, "previous": 1.0}); len(got) != 1 || got[0] != want {
		t.Errorf("decr of a pool of 1: %q, want %q", got, want)
	}
}

// TestIncrAtTheMaxWarns: `incr` of an elastic pool at its max_workers
// printed the size it already had and exited 0, as if it had grown (r55
// console review). poold's reply now adds what the pool had, the bound
// and its key, and poolctl warns on stderr; a decr held at min_workers
// likewise. --json keeps Circus's numprocesses and adds the keys.
func TestIncrAtTheMaxWarns(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{arbiter: "\n[sockets.s]\nhost = \"127.0.0.1\"\nport = 0\n"}) // web: 2 workers
	// Bounds 2..3, so the pool's own scaling cannot move it meanwhile.
	if r := p.ctl(t, "set", "web", "sockets", `["s"]`, "min_workers", "2", "max_workers", "3"); r.stderr != "" {
		t.Fatalf("set web elastic: %v", r)
	}
	if r := p.ctl(t, "incr", "web"); r.stdout != "3\n" || r.stderr != "" {
		t.Errorf("incr web of 2, max 3: %v, want 3 and no warning", r)
	}
	r := p.ctl(t, "incr", "web")
	want := "poolctl: warning: incr changed nothing: the pool is already at its max of 3 workers (max_workers); raise max_workers to grow it (poolctl set web max_workers N)\n"
	if r.stdout != "3\n" || r.stderr != want {
		t.Errorf("incr web at its max of 3: %v\nwant stdout 3 and stderr %q", r, want)
	}
	r = p.ctl(t, "--json", "incr", "web", "2")
	for _, key := range []string{`"numprocesses":3`, `"previous":3`, `"max":3`, `"limit":"max_workers"`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("incr web at its max, --json: %v, want %s", r, key)
		}
	}
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "2\n" || r.stderr != "" {
		t.Errorf("decr web of 3, min 2: %v, want 2 and no warning", r)
	}
	r = p.ctl(t, "decr", "web", "5")
	want = "poolctl: warning: decr changed nothing: the pool is already at its min of 2 workers (min_workers); lower min_workers to shrink it (poolctl set web min_workers N)\n"
	if r.stdout != "2\n" || r.stderr != want {
		t.Errorf("decr web 5 at its min of 2: %v\nwant stdout 2 and stderr %q", r, want)
	}
}

// TestBoundWarningReadsInOrder: the warning of an incr stopped short at
// the max put "further" after the command to run ("... to grow it
// (poolctl set NAME max_workers N) further"); it now comes before it.
func TestBoundWarningReadsInOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		command string
		r       reply
		want    string
	}{
		{"incr", reply{"numprocesses": 3.0, "previous": 2.0, "max": 3.0, "limit": "max_workers"},
			"warning: incr stopped at the pool's max of 3 workers (max_workers), short of what was asked; raise max_workers to grow it further (poolctl set web max_workers N)"},
		{"decr", reply{"numprocesses": 2.0, "previous": 3.0, "min": 2.0, "limit": "min_workers"},
			"warning: decr stopped at the pool's min of 2 workers (min_workers), short of what was asked; lower min_workers to shrink it further (poolctl set web min_workers N)"},
	} {
		if got := boundWarning(tc.command, "web", tc.r); got != tc.want {
			t.Errorf("%s: %q\nwant %q", tc.command, got, tc.want)
		}
	}
}
