package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/web/remote"
)

// TestRevokedTokenEndsItsEventStream: an event stream opened with an API
// token went on after a reload revoked that token, for as long as its
// client stayed connected. It now ends at the reload; a stream whose
// token the reload kept goes on.
func TestRevokedTokenEndsItsEventStream(t *testing.T) {
	t.Parallel()
	const kept, gone, next = "kept-token-0123456789", "gone-token-0123456789", "next-token-0123456789"
	fake := newFakeBackend(t, map[string]int{"web": 1})
	cfg := configs.Web{Tokens: []configs.APIToken{
		{Role: configs.RoleReadOnly, File: "kept.token", Token: kept},
		{Role: configs.RoleOperator, File: "ops.token", Token: gone},
	}}
	ts := startServer(t, fake, cfg, nil)
	open := func(token string) *remote.Stream {
		t.Helper()
		c, err := remote.New(remote.Options{URL: ts.url, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		st, err := c.Events(context.Background(), nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	keptSt, goneSt := open(kept), open(gone)

	cfg.Tokens = []configs.APIToken{
		{Role: configs.RoleReadOnly, File: "kept.token", Token: kept},
		{Role: configs.RoleOperator, File: "ops.token", Token: next},
	}
	ts.Reconfigure(cfg)
	fake.Events.Publish("web", events.KindStart, nil)

	// Bounds that only catch a hang: the stream must end, not time out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		topic, _, err := goneSt.RecvRaw(ctx)
		if err == nil {
			t.Logf("revoked token's stream still delivers %s", topic)
			continue
		}
		if ctx.Err() != nil {
			t.Fatal("the stream of a revoked token is still open 10s after the reload")
		}
		if !strings.Contains(err.Error(), "ended") {
			t.Fatalf("revoked token's stream: %v, want it ended", err)
		}
		break
	}
	topic, _, err := keptSt.RecvRaw(ctx)
	if err != nil || topic != "watcher.web.start" {
		t.Fatalf("stream of a token the reload kept: %q, %v; want watcher.web.start", topic, err)
	}
}

// TestFollowerStopsOnRevokedToken: a follower (poolctl events over the
// API) whose token a reload revoked does not keep trying it: the reopened
// stream's 401 ends it, saying so.
func TestFollowerStopsOnRevokedToken(t *testing.T) {
	t.Parallel()
	const tok = "gone-token-0123456789"
	// No watchers: no event (nor gap) comes before the revocation's 401.
	fake := newFakeBackend(t, map[string]int{})
	cfg := configs.Web{Tokens: []configs.APIToken{{Role: configs.RoleOperator, File: "ops.token", Token: tok}}}
	ts := startServer(t, fake, cfg, nil)
	c, err := remote.New(remote.Options{URL: ts.url, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lost := 0
	f, err := c.Follow(context.Background(), nil, 0, remote.FollowOptions{RetryFor: time.Minute, Lost: func(error, uint64) { lost++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg.Tokens[0].Token = "next-token-0123456789"
	ts.Reconfigure(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err = f.RecvRaw(ctx)
	var se *remote.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || lost != 1 {
		t.Fatalf("RecvRaw after the token was revoked: %v (lost %d times), want a 401 after one loss", err, lost)
	}
}

// TestAPITokenRotationKeepsConsoles: rotating an API token (which opens
// no console) closed every open console, and their pages reconnected,
// as if the console's own token had changed. Consoles now stay; a change
// of the console token still ends them.
func TestAPITokenRotationKeepsConsoles(t *testing.T) {
	t.Parallel()
	const console = "console-token-0123456789"
	cfg := configs.Web{Enabled: true, Token: console, Tokens: []configs.APIToken{
		{Role: configs.RoleOperator, File: "ops.token", Token: "ops-token-0123456789"}}}
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), cfg, nil)
	c := dialWith(t, ts, http.Header{"Authorization": {"Bearer " + console}})
	c.next("hello", typeIs("hello"))

	cfg.Address = ts.addr
	cfg.Tokens = []configs.APIToken{{Role: configs.RoleOperator, File: "ops.token", Token: "ops-token-rotated-0123"}}
	ts.Reconfigure(cfg)
	// Reconfigure has returned: a console it closed has its close frame
	// on the way before this request's reply.
	c.send("s", "status", map[string]any{"name": "web"})
	if r := c.reply("s"); r["status"] != "active" {
		t.Fatalf("status over a console after an API token was rotated: %v", r)
	}
	cfg.Token = "console-token-rotated-0123"
	ts.Reconfigure(cfg)
	if code := c.closedWith(); code != websocket.ClosePolicyViolation {
		t.Errorf("console after its token changed: closed with %d, want %d", code, websocket.ClosePolicyViolation)
	}
}
