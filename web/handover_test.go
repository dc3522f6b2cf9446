package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
)

// acceptedConns records the connections its listener accepts: the test
// closes them as an exec would.
type acceptedConns struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *acceptedConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection accepted, as the exec does.
func (l *acceptedConns) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// TestHandOverSendsWebsocketClosesFirst: the exec follows HandOver at
// once, and cuts what poold has not written. Websockets (hijacked, so
// not among the requests HandOver waited for) lost their close frame
// 1012 whenever their writer had not run yet: the page saw 1006 and
// showed "disconnected". HandOver now waits for them too.
func TestHandOverSendsWebsocketClosesFirst(t *testing.T) {
	const pages = 40
	fake := newFakeBackend(t, map[string]int{"web": 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &acceptedConns{Listener: l}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, cl)
	h := http.Header{"Origin": {"http://" + l.Addr().String()}}
	var socks []*websocket.Conn
	for range pages {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+l.Addr().String()+"/ws", h)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil { // the hello: registered
			t.Fatal(err)
		}
		socks = append(socks, c)
	}
	if cut := s.HandOver(); cut != 0 {
		t.Errorf("HandOver left %d requests or websockets for the exec to cut, want 0", cut)
	}
	cl.cut()
	lost := 0
	for i, c := range socks {
		for {
			_, _, err := c.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
				lost++
				if lost <= 3 {
					t.Errorf("page %d: its websocket ended with %v, want the close frame %d (service restart)", i, err, websocket.CloseServiceRestart)
				}
			}
			break
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d pages got no close frame before the exec", lost, pages)
	}
}

// TestHandOverWebsocketCloseIsAHandshake: a page may send a message (a
// pong, a console_view) just as the close frame 1012 comes. A writer that
// closed the connection right after the close frame made the kernel answer
// that message with a reset; Chromium fails a websocket whose write meets
// a reset with 1006, though the close frame is already in its socket, and
// the page showed "disconnected" for an upgrade. poold now reads on until
// the page's close reply, then closes: the page sees an end, not a reset.
func TestHandOverWebsocketCloseIsAHandshake(t *testing.T) {
	const pages = 20
	fake := newFakeBackend(t, map[string]int{"web": 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	h := http.Header{"Origin": {"http://" + l.Addr().String()}}
	var socks []*websocket.Conn
	for range pages {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+l.Addr().String()+"/ws", h)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil { // the hello: registered
			t.Fatal(err)
		}
		socks = append(socks, c)
	}
	if cut := s.HandOver(); cut != 0 {
		t.Errorf("HandOver left %d requests or websockets for the exec to cut, want 0", cut)
	}
	defer s.Resume()
	// Each page sends a message after poold's close frame, before it reads
	// it.
	for i, c := range socks {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":"late","command":"incr","properties":{"name":"web"}}`)); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	reset := 0
	for i, c := range socks {
		// The page's close reply: what a reset makes fail (EPIPE, which
		// Chromium takes for a reset: 1006).
		var replyErr error
		c.SetCloseHandler(func(code int, _ string) error {
			replyErr = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(10*time.Second))
			return nil
		})
		var err error
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
			t.Errorf("page %d: its websocket ended with %v, want the close frame %d (service restart)", i, err, websocket.CloseServiceRestart)
		}
		if replyErr != nil {
			reset++
			if reset <= 3 {
				t.Errorf("page %d: its close reply failed: %v; poold reset the connection rather than read on until it", i, replyErr)
			}
		}
		// Then poold closes the connection.
		if _, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("page %d: after the close handshake the connection gave %v, want EOF", i, err)
		}
	}
	if reset > 0 {
		t.Fatalf("%d of %d pages got a reset for what they sent after poold's close frame", reset, pages)
	}
	// poold closed each connection after its reader (and the actions it
	// started) ended.
	if slices.Contains(fake.Calls(), "incr") {
		t.Errorf("a command read after the close frame ran (commands: %q); nobody hears its reply, and the page tells its user to send it again", fake.Calls())
	}
}
