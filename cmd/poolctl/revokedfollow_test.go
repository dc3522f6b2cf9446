package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestFollowersOfARevokedTokenSayItWasRefused: each follower whose token a
// reload revoked asked poold who it was (dstats) before opening its
// stream again, two failed attempts where one would do; three of them
// on one address passed the failed-token limit (5), and the last was
// told "429 Too Many Requests" rather than that its token was refused.
// Each now tries once and says so.
func TestFollowersOfARevokedTokenSayItWasRefused(t *testing.T) {
	t.Parallel()
	f := newAPIFiles(t)
	p := startPooldAPIWith(t, f)
	old := filepath.Join(t.TempDir(), "old.token") // what the followers hold
	tok, err := os.ReadFile(f.ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, tok, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outs, errs := make([]*syncBuffer, n), make([]*syncBuffer, n)
	done := make(chan int, n)
	for i := range errs {
		outs[i], errs[i] = &syncBuffer{}, &syncBuffer{}
		go func() {
			done <- run(ctx, []string{"--token-file", old, "--ca-file", f.cert, "--url", p.api.url, "events"}, outs[i], errs[i])
		}()
	}
	// Every stream open before the reload: each has shown a spawn.
	if !proctest.Poll(20*time.Second, func() bool {
		p.local(t, "incr", "web")
		for _, o := range outs {
			if !strings.Contains(o.String(), "watcher.web.spawn") {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not every follower's stream is open")
	}
	writeToken(t, f.ops) // a new operator token: the followers' is revoked
	p.local(t, "reloadconfig")
	for range n {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("a follower of a revoked token still runs 60s after the reload")
		}
	}
	for i, e := range errs {
		// The words too: the API's port may have "429" or "401" in it.
		if s := e.String(); !strings.Contains(s, "401 Unauthorized") || strings.Contains(s, "429 Too Many") {
			t.Errorf("follower %d after its token was revoked: %q; want the 401 refusal", i, s)
		}
	}
}
