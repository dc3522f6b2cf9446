package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestRemoteEventsFollowRestart: a host behind one address restarts (a
// new poold, seqs from 1 again) and the stream is opened again only once
// the new poold's history has passed the old one's last seq (a busy
// start: hundreds of workers spawning before the follower's next try).
// The follower asked for "after #N" and silently lost the new poold's
// first N events, arbiter.start among them, with nothing said. It now
// sees that poold restarted, says so, and replays the new history from
// its start.
func TestRemoteEventsFollowRestart(t *testing.T) {
	t.Parallel()
	ps, f := startFleet(t, 2)
	old, next := ps[0], ps[1]
	g := startTCPGate(t, strings.TrimPrefix(old.api.url, "https://"))
	url := "https://" + g.addr()
	ctx, cancel := context.WithCancel(context.Background())
	type follower struct {
		name      string
		out, errb *syncBuffer
		done      chan int
	}
	auth := []string{"--token-file", f.ops, "--ca-file", f.cert, "--url", url}
	var fs []*follower
	for _, extra := range [][]string{nil, {"--url", next.api.url}} {
		fl := &follower{name: "--url " + url, out: &syncBuffer{}, errb: &syncBuffer{}, done: make(chan int, 1)}
		if extra != nil {
			fl.name = "fleet"
		}
		args := append(append(append([]string{}, auth...), extra...), "events")
		go func() { fl.done <- run(ctx, args, fl.out, fl.errb) }()
		fs = append(fs, fl)
	}
	defer func() {
		cancel()
		for _, fl := range fs {
			if code := <-fl.done; code != 0 {
				t.Errorf("%s: events exit %d; stderr %q", fl.name, code, fl.errb.String())
			}
		}
	}()
	// "HH:MM:SS.mmm watcher...", or in the fleet "HOST HH:MM:SS.mmm ...".
	shows := func(fl *follower, what string) bool {
		for _, l := range strings.Split(fl.out.String(), "\n") {
			if strings.Contains(l, what) && (fl.name != "fleet" || strings.HasPrefix(l, g.addr()+" ")) {
				return true
			}
		}
		return false
	}
	if !proctest.Poll(20*time.Second, func() bool {
		old.local(t, "incr", "web")
		return shows(fs[0], "watcher.web.spawn") && shows(fs[1], "watcher.web.spawn")
	}) {
		t.Fatalf("no spawn in the streams: %q, %q", fs[0].out.String(), fs[1].out.String())
	}
	// The host goes away; the follower keeps trying.
	g.route("")
	oldSeq := lastSeq(t, old)
	old.stop(t)
	// The new poold's history passes the old one's last seq before the
	// follower gets through to it.
	for lastSeq(t, next) <= oldSeq+4 {
		next.local(t, "incr", "web")
	}
	g.route(strings.TrimPrefix(next.api.url, "https://"))
	for _, fl := range fs {
		if !proctest.Poll(20*time.Second, func() bool { return shows(fl, "arbiter.start") }) {
			t.Fatalf("%s: the restarted host's first events were lost: stdout %q, stderr %q", fl.name, fl.out.String(), fl.errb.String())
		}
		if !strings.Contains(fl.errb.String(), "poold restarted") {
			t.Errorf("%s: the restart is not reported: stderr %q", fl.name, fl.errb.String())
		}
	}
}

// TestFleetEventsHostDownAtStart: a host that cannot be reached when a
// fleet's `events` starts (its pod being replaced, poold restarting) was
// reported once and never followed, though a host whose stream breaks
// later is tried again for 30 s. It is now tried again the same way, and
// its events join the stream once it is back: all of them, when its
// poold started after `events` did (arbiter.start, its first spawns),
// which were lost when the retry asked for events "from now on".
func TestFleetEventsHostDownAtStart(t *testing.T) {
	t.Parallel()
	ps, f := startFleet(t, 1)
	g := startTCPGate(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--token-file", f.ops, "--ca-file", f.cert,
			"--url", ps[0].api.url, "--url", "https://" + g.addr(), "events"}, out, errb)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("events exit %d; stderr %q", code, errb.String())
		}
	}()
	if !proctest.Poll(20*time.Second, func() bool { return strings.Contains(errb.String(), g.addr()+": unreachable") }) {
		t.Fatalf("the host down is not reported: stderr %q", errb.String())
	}
	late := startPooldAPIWith(t, f) // the host's poold, started only now
	late.waitPids(t, 2)
	g.route(strings.TrimPrefix(late.api.url, "https://"))
	lines := func(topic string) (n int) { // the host's lines of topic
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, g.addr()+" ") && strings.Contains(l, " "+topic+" ") {
				n++
			}
		}
		return n
	}
	if !proctest.Poll(20*time.Second, func() bool { return lines("arbiter.start") == 1 && lines("watcher.web.spawn") >= 2 }) {
		t.Fatalf("the host that came back is not followed from its poold's start: stdout %q, stderr %q", out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), g.addr()+": event stream open") {
		t.Errorf("the host's return is not reported: stderr %q", errb.String())
	}
}

// tcpGate forwards each connection to the current backend, or drops it
// at once while there is none: a host's address whose poold is replaced.
type tcpGate struct {
	l  net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	backend string
	conns   map[net.Conn]bool
}

func startTCPGate(t *testing.T, backend string) *tcpGate {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpGate{l: l, backend: backend, conns: map[net.Conn]bool{}}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(func() {
		l.Close()
		g.route("")
		g.wg.Wait()
	})
	return g
}

func (g *tcpGate) addr() string { return g.l.Addr().String() }

// route sends new connections to backend ("" drops them) and closes the
// ones open.
func (g *tcpGate) route(backend string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.backend = backend
	for c := range g.conns {
		c.Close()
	}
}

func (g *tcpGate) serve() {
	defer g.wg.Done()
	for {
		c, err := g.l.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		b := g.backend
		g.mu.Unlock()
		var up net.Conn
		if b != "" {
			up, _ = net.Dial("tcp", b)
		}
		if up == nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns[c], g.conns[up] = true, true
		g.mu.Unlock()
		g.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer g.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			g.mu.Lock()
			delete(g.conns, dst)
			delete(g.conns, src)
			g.mu.Unlock()
		}
		go pipe(c, up)
		go pipe(up, c)
	}
}
