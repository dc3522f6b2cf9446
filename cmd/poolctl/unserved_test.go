package main

import (
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestDecrLeavingASocketUnservedWarns: a `decr app 2` that took a pool
// of 2 gunicorn masters serving socket web to 0 printed 0 and nothing
// else (r60 rollover trial); connections then sat in the socket's
// backlog and the client saw no error for 7 s. poolctl now warns on
// stderr, and poold logs it, for each socket no running watcher serves
// any more; a socket another watcher still serves is not warned of.
func TestDecrLeavingASocketUnservedWarns(t *testing.T) {
	p := startPooldWith(t, pooldConf{
		arbiter:  "\n[sockets.s]\nhost = \"127.0.0.1\"\nport = 0\n",
		watchers: "sockets = [\"s\"]\n\n[watchers.api]\ncmd = \"sleep\"\nargs = [\"3600\"]\nnumprocesses = 1\nsockets = [\"s\"]\n",
	}) // web: 2 workers on s, api: 1 on s
	p.waitPids(t, 2)
	if r := p.ctl(t, "decr", "web", "2"); r.stdout != "0\n" || r.stderr != "" {
		t.Errorf("decr web to 0 while api serves s too: %v, want 0 and no warning", r)
	}
	p.ctl(t, "--waiting", "stop", "api")
	p.ctl(t, "--waiting", "incr", "web", "2")
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "1\n" || r.stderr != "" {
		t.Errorf("decr web 1 of 2: %v, want 1 and no warning", r)
	}
	warn := "poolctl: warning: socket s is now served by no worker of web: connections wait in its backlog until one starts (poolctl incr web N)\n"
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "0\n" || r.stderr != warn {
		t.Errorf("decr web 1 of 1: %v\nwant stdout 0 and stderr %q", r, warn)
	}
	logged := func() bool {
		for _, l := range strings.Split(p.log(), "\n") {
			if strings.Contains(l, "decr left a socket served by no worker") && strings.Contains(l, "socket=s") && strings.Contains(l, "watcher=web") {
				return true
			}
		}
		return false
	}
	if !proctest.Poll(hangBound, logged) {
		t.Errorf("poold's log does not say that socket s has no worker:\n%s", p.log())
	}
	// Past the pool's size: that warning first, then the socket's.
	p.ctl(t, "--waiting", "incr", "web", "1")
	past := "poolctl: warning: decr asked for more than the pool's 1 worker, so it now has 0: every worker of it stops; poolctl incr web N starts some again\n"
	if r := p.ctl(t, "decr", "web", "5"); r.stdout != "0\n" || r.stderr != past+warn {
		t.Errorf("decr web 5 of 1: %v\nwant stdout 0 and stderr %q", r, past+warn)
	}
	// A pool already at 0 has no worker to stop: nothing to warn of.
	if r := p.ctl(t, "decr", "web", "1"); r.stdout != "0\n" || r.stderr != "" {
		t.Errorf("decr web 1 of 0: %v, want 0 and no warning", r)
	}
}
