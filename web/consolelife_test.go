package web

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// How long a console's connection lives: the read limit, the ping that
// keeps an idle one, the close of a silent or slow one, and the end of
// Serve with consoles open.

func TestReadLimitClosesConnection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, func(tu *tunings) { tu.readLimit = 1024 })
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	big := `{"id":"x","command":"status","properties":{"pad":"` + strings.Repeat("a", 4096) + `"}}`
	c.c.WriteMessage(websocket.TextMessage, []byte(big))
	c.c.SetReadDeadline(time.Now().Add(hang))
	for {
		if _, _, err := c.c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("closed with %d, want %d", ce.Code, websocket.CloseMessageTooBig)
			}
			return
		}
	}
}

// TestPingKeepsIdleConsoleAlive: a console that sends nothing but answers
// the server's pings outlives pongWait, the read deadline each pong
// extends. pongWait is 2 s, not 200 ms: under load the test's reader, or
// the server's, went unscheduled for longer than 200 ms between two
// pongs, and the server rightly dropped the console ("connection closed
// after 5 pings"). The test waits for pings spanning 1.5 pongWait from
// the dial, the least that shows the pongs kept it.
func TestPingKeepsIdleConsoleAlive(t *testing.T) {
	t.Parallel()
	const pongWait = 2 * time.Second
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, func(tu *tunings) {
		tu.pingEvery = 50 * time.Millisecond
		tu.pongWait = pongWait
	})
	dialed := time.Now()
	c := dialConsole(t, ts)
	pings := make(chan struct{}, 100)
	c.c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(hang))
	})
	// Reading runs the ping handler.
	go func() {
		for {
			if _, _, err := c.c.ReadMessage(); err != nil {
				close(pings)
				return
			}
		}
	}()
	deadline := time.After(hang)
	for n := 0; time.Since(dialed) < pongWait*3/2; {
		select {
		case _, ok := <-pings:
			if !ok {
				t.Fatalf("connection closed after %d pings, %v after the dial (pongWait %v)", n, time.Since(dialed).Round(time.Millisecond), pongWait)
			}
			n++
		case <-deadline:
			t.Fatalf("only %d pings in %v", n, hang)
		}
	}
	c.c.Close()
	for range pings {
	}
}

// TestSilentConsoleClosedWithItsReason: a console from which nothing
// came within pongWait (a dead link, or a poold that did not run that
// long, stopped or frozen) was closed with 1001 "poold console closing",
// the close of poold's shutdown, though poold ran on. It now says why.
func TestSilentConsoleClosedWithItsReason(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, func(tu *tunings) {
		tu.pingEvery = time.Hour // no ping, so no pong: the console stays silent
		tu.heartbeat = time.Hour
		tu.pongWait = 300 * time.Millisecond
	})
	c := dialConsole(t, ts)
	c.c.SetReadDeadline(time.Now().Add(hang))
	for {
		_, _, err := c.c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.HasPrefix(ce.Text, "nothing heard from this console for ") {
			t.Fatalf("silent console ended with %v, want close 1008 naming the silence", err)
		}
		t.Logf("closed with %d %q", ce.Code, ce.Text)
		return
	}
}

// A console that stops reading is dropped; the others keep receiving.
func TestSlowConsoleIsDropped(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) {
		tu.clientQueue = 4
		tu.eventFlush = time.Millisecond
		tu.writeWait = time.Hour // only the queue bound may drop it
	})
	slow := dialConsole(t, ts) // never reads after this
	fast := dialConsole(t, ts)
	fast.next("hello", typeIs("hello"))

	pad := strings.Repeat("x", 256<<10)
	var got int
	// Publish big events until the slow console is gone; the fast one
	// must see every round.
	deadline := time.Now().Add(60 * time.Second)
	for round := 0; ; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow console still connected after %d rounds", round)
		}
		fake.Events.Publish("web", events.KindUpdated, map[string]any{"pad": pad, "round": round})
		fast.next("round", func(m map[string]any) bool {
			for _, e := range asSlice(m["events"]) {
				if f, _ := e.(map[string]any)["fields"].(map[string]any); f["round"] == float64(round) {
					return true
				}
			}
			return false
		})
		got++
		if ts.consoles() == 1 {
			break
		}
	}
	// The slow console's connection was closed by the server: reading
	// what was buffered ends in an error, not a hang.
	slow.c.SetReadDeadline(time.Now().Add(hang))
	for {
		if _, _, err := slow.c.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow console not closed: %v", err)
			}
			break
		}
	}
	t.Logf("slow console dropped after %d rounds of 256 KiB", got)
}

func TestServeEndsWithOpenConsoles(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	ts := &testServer{Server: s, addr: l.Addr().String()}
	var cs []*wsClient
	for range 5 {
		c := dialConsole(t, ts)
		c.next("hello", typeIs("hello"))
		cs = append(cs, c)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(hang):
		t.Fatalf("Serve did not return within %v of cancel", hang)
	}
	for _, c := range cs {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := c.c.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
					t.Errorf("console ended with %v, want close 1001", err)
				}
				break
			}
		}
	}
}
