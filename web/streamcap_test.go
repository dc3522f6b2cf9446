package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/web/remote"
)

const (
	viewToken    = "view-token-0123456789abcdef"
	view2Token   = "view2-token-0123456789abcdef"
	opsToken     = "ops-token-0123456789abcdef"
	consoleToken = "console-token-0123456789abcdef"
)

// streamCapServer serves a console with a console token and three API
// tokens (two read-only, one operator), tuned by tune.
func streamCapServer(t *testing.T, tune func(*tunings)) *testServer {
	t.Helper()
	cfg := configs.Web{Token: consoleToken, Tokens: []configs.APIToken{
		{Role: configs.RoleReadOnly, File: "view.token", Token: viewToken},
		{Role: configs.RoleReadOnly, File: "view2.token", Token: view2Token},
		{Role: configs.RoleOperator, File: "ops.token", Token: opsToken},
	}}
	return startServer(t, newFakeBackend(t, map[string]int{"web": 1}), cfg, tune)
}

// openStream opens GET /api/v1/events with token, closed when the test
// ends; the error is the server's refusal, if any.
func openStream(t *testing.T, ts *testServer, token string) (*remote.Stream, error) {
	t.Helper()
	c, err := remote.New(remote.Options{URL: ts.url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	st, err := c.Events(ctx, nil, -1)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	return st, nil
}

// wantRefused checks that err is a 429 whose reason holds want.
func wantRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	var se *remote.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusTooManyRequests || !strings.Contains(se.Reason, want) {
		t.Errorf("%s: %v, want 429 saying %q", what, err, want)
	}
}

// wantEnded waits (up to hang) for st to end, as when the server closed
// it to make room.
func wantEnded(t *testing.T, what string, st *remote.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	for {
		if _, err := st.Recv(ctx); err != nil {
			if ctx.Err() != nil {
				t.Errorf("%s is still open after %v, want it closed to make room", what, hang)
			}
			return
		}
	}
}

// dialConsoleToken opens a console's websocket signed in with the
// console token; resp is the refusal when err is not nil.
func dialConsoleToken(t *testing.T, ts *testServer) (*websocket.Conn, int, string, error) {
	t.Helper()
	h := http.Header{"Origin": {"http://" + ts.addr}}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws?token="+consoleToken, h)
	if err != nil {
		if resp == nil {
			return nil, 0, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(b), err
	}
	t.Cleanup(func() { c.Close() })
	return c, http.StatusSwitchingProtocols, "", nil
}

// TestReadOnlyStreamsCannotFillTheListener: event streams keep their
// connection busy, and the listener's bound closes only idle ones to
// make room, so one holder of a read-only token filled the listener with
// streams and every operator request was closed unanswered for as long
// as they stayed open. Streams now get three quarters of the bound at
// most: the operator's request is answered, and the operator's own
// stream takes the room of the read-only token's newest.
func TestReadOnlyStreamsCannotFillTheListener(t *testing.T) {
	t.Parallel()
	const limit = 16
	ts := streamCapServer(t, func(tu *tunings) { tu.maxConns = limit })
	var held []*remote.Stream
	var refusal error
	for range limit {
		st, err := openStream(t, ts, viewToken)
		if err != nil {
			refusal = err
			break
		}
		held = append(held, st)
	}
	if refusal == nil {
		t.Errorf("a read-only token opened %d streams, the listener's whole bound", limit)
	} else {
		wantRefused(t, "a stream past three quarters of the listener's bound", refusal, "too many streams")
	}
	if want := limit - limit/4; len(held) != want {
		t.Errorf("a read-only token holds %d streams, want %d (three quarters of the bound)", len(held), want)
	}

	req, _ := http.NewRequest(http.MethodPost, ts.url+apiPrefix+"status", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := (&http.Client{Timeout: hang}).Do(req)
	if err != nil {
		t.Fatalf("an operator's POST status with the listener full of a read-only token's streams: %v, want 200", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("an operator's POST status with the listener full of streams: %s, want 200", resp.Status)
	}

	if _, err := openStream(t, ts, opsToken); err != nil {
		t.Fatalf("an operator's stream with every stream's room taken by a read-only token: %v, want it let in", err)
	}
	wantEnded(t, "the read-only token's newest stream", held[len(held)-1])
}

// TestStreamsAreBoundedPerTokenAndAddress: past its bound a token's
// stream is refused; at an address's bound, a token holding fewer
// streams there (a console, an operator) takes the room of the token
// holding the most, whose next one is refused.
func TestStreamsAreBoundedPerTokenAndAddress(t *testing.T) {
	ts := streamCapServer(t, func(tu *tunings) { tu.streamsPerKey = 3 })
	var view []*remote.Stream
	for range 3 {
		st, err := openStream(t, ts, viewToken)
		if err != nil {
			t.Fatalf("a read-only token's stream within the bound: %v", err)
		}
		view = append(view, st)
	}
	_, err := openStream(t, ts, viewToken)
	wantRefused(t, "a token's stream past the bound", err, "this token has 3 open")

	// Every loopback client is one address, which view fills.
	if _, code, body, err := dialConsoleToken(t, ts); err != nil {
		t.Fatalf("a console with the address's streams all a read-only token's: %v (%d %s), want it let in", err, code, body)
	}
	wantEnded(t, "the read-only token's newest stream, for the console", view[2])
	_, code, body, err := dialConsoleToken(t, ts)
	if err == nil || code != http.StatusTooManyRequests || !strings.Contains(body, "too many streams from loopback") {
		t.Errorf("a second console at the address's bound, its streams shared 2 to 1: %v (%d %q), want 429 naming the address", err, code, body)
	}
	_, err = openStream(t, ts, viewToken)
	wantRefused(t, "the read-only token's stream at the address's bound", err, "too many streams from loopback")

	if _, err := openStream(t, ts, view2Token); err != nil {
		t.Fatalf("another token's stream at the address's bound: %v, want it let in", err)
	}
	wantEnded(t, "the read-only token's newest stream, for another token", view[1])
}

// TestConsoleIsClosedToMakeRoom: consoles count as web.token's streams;
// the newest is closed, saying why, when a token holding fewer there
// needs the room.
func TestConsoleIsClosedToMakeRoom(t *testing.T) {
	t.Parallel()
	ts := streamCapServer(t, func(tu *tunings) { tu.streamsPerKey = 2 })
	var consoles []*websocket.Conn
	for range 2 {
		c, code, body, err := dialConsoleToken(t, ts)
		if err != nil {
			t.Fatalf("a console within the bound: %v (%d %s)", err, code, body)
		}
		consoles = append(consoles, c)
	}
	if _, code, _, err := dialConsoleToken(t, ts); err == nil || code != http.StatusTooManyRequests {
		t.Errorf("a console past web.token's bound: %v (%d), want 429", err, code)
	}
	if _, err := openStream(t, ts, opsToken); err != nil {
		t.Fatalf("an operator's stream at the address's bound, all consoles': %v, want it let in", err)
	}
	c := consoles[1]
	_ = c.SetReadDeadline(time.Now().Add(hang))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || !strings.Contains(ce.Text, "make room") {
			t.Errorf("the newest console: %v, want closed with 1013 saying it made room", err)
		}
		break
	}
}
