package remote

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/wire"
)

// TestURLPathKept: a proxy may serve poold's API under a path
// (https://host/ops/poold/); the client dropped it, and asked for
// /api/v1/... at the proxy's root, which answered 404.
func TestURLPathKept(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, given := range []string{srv.URL + "/ops/poold/", srv.URL + "/ops/poold"} {
		mu.Lock()
		paths = nil
		mu.Unlock()
		c, err := New(Options{URL: given, Token: "0123456789abcdef"})
		if err != nil {
			t.Fatal(err)
		}
		if want := srv.URL + "/ops/poold"; c.URL() != want {
			t.Errorf("--url %s: URL() %q, want %q", given, c.URL(), want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c.Do(ctx, wire.Request{ID: "1", Command: "list"}) // a 404: only the path asked matters
		if s, err := c.Stream(ctx, "events", url.Values{"topic": {"x"}}); err == nil {
			s.Close()
		}
		cancel()
		c.Close()
		mu.Lock()
		got := append([]string(nil), paths...)
		mu.Unlock()
		want := []string{"/ops/poold/api/v1/list", "/ops/poold/api/v1/events"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("--url %s: the server was asked for %q, want %q", given, got, want)
		}
	}
}
