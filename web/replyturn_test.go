package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// viewToken and opsToken: streamcap_test.go.

// tokenWord names a token of these tests in their messages.
func tokenWord(token string) string { return strings.SplitN(token, "-", 2)[0] }

// queryBackend answers the queries of these tests: logs of watcher
// "crowd" wait for gate to close (a build that takes long) and are
// small, logs of "big" are bigReplySize bytes, other logs are small;
// list and numwatchers as poold does; anything else as the fake does.
type queryBackend struct {
	*fakeBackend
	gate     chan struct{}
	building atomic.Int32 // crowd logs being built now
	most     atomic.Int32 // the most of them built at once
}

func (b *queryBackend) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	switch req.Command {
	case "logs":
		switch req.Properties["name"] {
		case "crowd":
			n := b.building.Add(1)
			for m := b.most.Load(); n > m && !b.most.CompareAndSwap(m, n); m = b.most.Load() {
			}
			select {
			case <-b.gate:
			case <-ctx.Done():
			}
			b.building.Add(-1)
		case "big":
			return arbiter.OK(req.ID, map[string]any{"lines": strings.Repeat("x", bigReplySize)})
		}
		return arbiter.OK(req.ID, map[string]any{"lines": "a line"})
	case "list":
		return arbiter.OK(req.ID, map[string]any{"watchers": []string{"web"}})
	case "numwatchers":
		return arbiter.OK(req.ID, map[string]any{"numwatchers": 1})
	}
	return b.fakeBackend.Do(ctx, req)
}

// serveQueries serves the API with a read-only token (file
// dir/view.token) and an operator one, over queryBackend and replies.
func serveQueries(t *testing.T, replies *ReplyBudget) (s *Server, b *queryBackend, addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	b = &queryBackend{fakeBackend: fake, gate: make(chan struct{})}
	s, err = New(Options{Config: configs.Web{Address: l.Addr().String(), Tokens: []configs.APIToken{
		{Role: configs.RoleReadOnly, Token: viewToken, File: dir + "/view.token"},
		{Role: configs.RoleOperator, Token: opsToken, File: dir + "/ops.token"},
	}}, Backend: b, Events: fake.Events, Stats: fake.Stats, Replies: replies})
	if err != nil {
		t.Fatal(err)
	}
	// No client is cut for a stalled part, however loaded the machine.
	s.tunings.writeWait = hang
	runServer(t, s, l)
	return s, b, l.Addr().String(), dir
}

// apiRequest is the HTTP request of command with body from token.
func apiRequest(addr, token, command, body string) string {
	return fmt.Sprintf("POST %s%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		apiPrefix, command, addr, token, len(body), body)
}

// askWithin sends request on a new connection and reads the reply's
// head and, if it is small, its Circus reply; it fails the test when
// none comes within hang.
func askWithin(t *testing.T, addr, what, request string) (*http.Response, map[string]any) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(hang))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: no reply (%v)", what, err)
	}
	var rep map[string]any
	if resp.ContentLength >= 0 && resp.ContentLength < replyPart {
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &rep)
	}
	return resp, rep
}

// TestSmallRepliesOfATokenAtItsBoundGoOn (r55b review): a query was
// refused before it was built when its token (or everyone) held its
// bound, whatever the size of its reply, so status, list and
// numwatchers got 503 though small replies are never refused: a
// dashboard fleet sharing a read-only token locked poolctl status for
// it, and every token once the total was reached. The refusal also
// named the token file's path on the server. Now only a big reply is
// refused, at its first write, and the token goes by its file's name.
func TestSmallRepliesOfATokenAtItsBoundGoOn(t *testing.T) {
	// One reply of bigReplySize and a bit takes the view token to its
	// bound and all of them to theirs.
	_, _, addr, dir := serveQueries(t, NewReplyBudget(bigReplySize, bigReplySize))
	held := askHeld(t, addr, apiRequest(addr, viewToken, "logs", `{"name":"big"}`))
	if held.resp.StatusCode != http.StatusOK {
		t.Fatalf("a big reply of the view token: %s, want 200 (it holds nothing)", held.resp.Status)
	}

	for _, token := range []string{viewToken, opsToken} {
		for _, command := range []string{"status", "list", "numwatchers"} {
			what := fmt.Sprintf("%s of the %s token, the view token at its bound and all at theirs", command, tokenWord(token))
			resp, rep := askWithin(t, addr, what, apiRequest(addr, token, command, "{}"))
			if resp.StatusCode != http.StatusOK || rep["status"] != "ok" {
				t.Errorf("%s: %s %v, want 200 ok (a small reply is never refused)", what, resp.Status, rep)
			}
		}
	}

	// A big one is refused, naming the token by its file's name only.
	resp, rep := askWithin(t, addr, "a second big reply of the view token", apiRequest(addr, viewToken, "logs", `{"name":"big"}`))
	why := fmt.Sprint(rep["reason"])
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(why, "token view.token holds 16 MiB") || strings.Contains(why, dir) {
		t.Errorf("a second big reply of the view token: %s %q; want 503 naming the token view.token, not where its file is", resp.Status, why)
	}
	resp, rep = askWithin(t, addr, "a big reply of the ops token", apiRequest(addr, opsToken, "logs", `{"name":"big"}`))
	if why := fmt.Sprint(rep["reason"]); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(why, "poold's HTTP listeners are reading 16 MiB") {
		t.Errorf("a big reply of the ops token, all at their bound: %s %q; want 503 saying all hold their bound", resp.Status, why)
	}
}

// TestQueriesDoNotWaitForAnotherTokensCrowd (r55b review): every query
// waited for one of four turns to build its reply, shared by all, so
// while 200 clients of a read-only token asked for logs an operator's
// status took 23 to 57 s. Now only a query whose reply can be big takes
// a turn, and one token takes at most two of the four: its crowd waits
// behind itself, an operator's status and logs do not.
func TestQueriesDoNotWaitForAnotherTokensCrowd(t *testing.T) {
	t.Parallel()
	s, b, addr, _ := serveQueries(t, nil)
	proctest.Eventually(t, "the console to serve", func() bool { return s.serving.Load() != nil })
	cl := s.serving.Load().cl
	const crowd = 6
	conns := make([]net.Conn, crowd)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(hang))
		if _, err := io.WriteString(c, apiRequest(addr, viewToken, "logs", `{"name":"crowd"}`)); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	proctest.Eventually(t, "the view token's crowd to be served, its first logs built", func() bool {
		return cl.inFlight(time.Now()) == crowd && b.building.Load() >= maxBuildingPerKey
	})

	for _, q := range []struct{ token, command, body string }{
		{opsToken, "status", "{}"},
		{opsToken, "logs", `{"name":"web"}`},
		{viewToken, "status", "{}"},
		{viewToken, "numwatchers", "{}"},
	} {
		what := fmt.Sprintf("%s of the %s token while the view token's logs are built", q.command, tokenWord(q.token))
		if resp, rep := askWithin(t, addr, what, apiRequest(addr, q.token, q.command, q.body)); resp.StatusCode != http.StatusOK || rep["status"] != "ok" {
			t.Errorf("%s: %s %v, want 200 ok", what, resp.Status, rep)
		}
	}
	if most := b.most.Load(); most != maxBuildingPerKey {
		t.Errorf("the view token's logs built at once: %d, want %d (its share of the turns)", most, maxBuildingPerKey)
	}

	close(b.gate)
	for i, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("logs %d of the crowd once built: %v %v, want 200", i+1, resp, err)
		}
	}
}

// TestBuildTurns: at most perKey turns to one key, a freed turn to the
// waiting key that holds the fewest, a key's callers first come first,
// and a caller that gives up leaves the queue.
func TestBuildTurns(t *testing.T) {
	t.Parallel()
	tt := newBuildTurns(4, 2)
	queued := func(key string) int {
		tt.mu.Lock()
		defer tt.mu.Unlock()
		return len(tt.waiting[key])
	}
	now := func(key string) func() {
		t.Helper()
		end, err := tt.wait(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return end
	}
	type got struct {
		end func()
		err error
	}
	later := func(ctx context.Context, key string) <-chan got {
		ch := make(chan got, 1)
		n := queued(key)
		go func() { end, err := tt.wait(ctx, key); ch <- got{end, err} }()
		proctest.Eventually(t, key+" to wait", func() bool { return queued(key) == n+1 })
		return ch
	}
	turn := func(what string, ch <-chan got) func() {
		t.Helper()
		select {
		case g := <-ch:
			if g.err != nil {
				t.Fatalf("%s: %v", what, g.err)
			}
			return g.end
		case <-time.After(hang):
			t.Fatalf("%s: no turn within %v", what, hang)
			return nil
		}
	}

	a1, a2, b1, b2 := now("a"), now("a"), now("b"), now("b")
	a3 := later(context.Background(), "a")
	c1 := later(context.Background(), "c")
	ctx, cancel := context.WithCancel(context.Background())
	a4 := later(ctx, "a")

	a1()
	c1end := turn("c, holding none, once a turn of a's ended", c1)
	a1() // ends nothing more
	if queued("a") != 2 {
		t.Fatalf("a's callers waiting: %d, want 2 (all four turns given)", queued("a"))
	}
	b1()
	a3end := turn("a's first waiting caller once a turn of b's ended", a3)
	cancel()
	if g := <-a4; g.err == nil {
		t.Fatal("a caller that gave up got a turn with all four given")
	}
	for _, end := range []func(){a2, b2, c1end, a3end} {
		end()
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.free != 4 || len(tt.busy) != 0 || len(tt.waiting) != 0 || len(tt.order) != 0 {
		t.Fatalf("all ended: %d free, given %v, waiting %v, order %v; want 4 free and nothing else", tt.free, tt.busy, tt.waiting, tt.order)
	}
}
