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
	t.Parallel()
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

// TestStopLeavingASocketUnservedWarns: `poolctl stop web` printed a bare
// ok while web's socket stayed bound and accepting, so a client's
// connection hung until its own timeout (r61 pm2 trial: PM2 users expect
// "connection refused"). A stop, and a set of numprocesses to 0, now warn
// and log as decr does, for each socket no running watcher serves any
// more; a socket another watcher still serves is not warned of.
func TestStopLeavingASocketUnservedWarns(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{
		arbiter: "\n[sockets.s]\nhost = \"127.0.0.1\"\nport = 0\n",
		// sleep never waits on s: ready at once, not after 10 s.
		watchers: "sockets = [\"s\"]\nreadiness = \"delay\"\nready_delay = \"0s\"\n\n" +
			"[watchers.api]\ncmd = \"sleep\"\nargs = [\"3600\"]\nnumprocesses = 1\nsockets = [\"s\"]\nreadiness = \"delay\"\nready_delay = \"0s\"\n",
	}) // web: 2 workers on s, api: 1 on s
	p.waitPids(t, 2)
	if r := p.ctl(t, "stop", "api"); r.stdout != "ok\n" || r.stderr != "" {
		t.Errorf("stop api while web serves s too: %v, want ok and no warning", r)
	}
	warn := "poolctl: warning: socket s is now served by no worker of web: connections wait in its backlog until it starts again (poolctl start web)\n"
	if r := p.ctl(t, "stop", "web"); r.stdout != "ok\n" || r.stderr != warn {
		t.Errorf("stop web, the last to serve s: %v\nwant ok and stderr %q", r, warn)
	}
	logged := func(msg string) func() bool {
		return func() bool {
			for _, l := range strings.Split(p.log(), "\n") {
				if strings.Contains(l, msg) && strings.Contains(l, "socket=s") && strings.Contains(l, "watcher=web") {
					return true
				}
			}
			return false
		}
	}
	if !proctest.Poll(hangBound, logged("stop left a socket served by no worker")) {
		t.Errorf("poold's log does not say that the stop left socket s with no worker:\n%s", p.log())
	}
	// Stopped already: its socket was unserved before.
	if r := p.ctl(t, "--waiting", "stop", "web"); strings.Contains(r.stderr, "warning") {
		t.Errorf("stop of a stopped web: %v, want no warning", r)
	}
	p.ctl(t, "--waiting", "start", "web")
	if r := p.ctl(t, "--waiting", "stop", "web"); !strings.HasSuffix(r.stderr, warn) {
		t.Errorf("waited stop web: %v\nwant stderr %q", r, warn)
	}
	p.ctl(t, "--waiting", "start", "web")
	setWarn := "poolctl: warning: socket s is now served by no worker of web: connections wait in its backlog until one starts (poolctl incr web N)\n"
	if r := p.ctl(t, "set", "web", "numprocesses", "0"); r.stderr != setWarn {
		t.Errorf("set web numprocesses 0: %v\nwant stderr %q", r, setWarn)
	}
	if !proctest.Poll(hangBound, logged("set numprocesses 0 left a socket served by no worker")) {
		t.Errorf("poold's log does not say that the set left socket s with no worker:\n%s", p.log())
	}
	p.ctl(t, "--waiting", "set", "web", "numprocesses", "1")
	all := "poolctl: warning: socket s is now served by no worker: connections wait in its backlog until a watcher that uses it starts (poolctl start)\n"
	if r := p.ctl(t, "--waiting", "stop"); !strings.HasSuffix(r.stderr, all) {
		t.Errorf("stop of every watcher: %v\nwant stderr %q", r, all)
	}
}
