package remote

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestFollowerWaitsOutAProxysBadGateway: poold behind nginx restarts, and
// for a moment nginx answers the reopened stream with its 502 page.
// poolctl events ended (exit 3) saying "not a poold reply; is this the
// [web] address of a poold?". The follower now takes a 502, 503 or 504
// without poold's own reason as poold not there yet, and tries again.
func TestFollowerWaitsOutAProxysBadGateway(t *testing.T) {
	c, opened := followServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 2 || n == 3 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"))
			return
		}
		spawnEvent(w, strconv.Itoa(min(int(n), 2)))
		if n >= 4 {
			<-r.Context().Done()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := c.Follow(ctx, nil, 0, FollowOptions{RetryFor: 10 * time.Second, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for want := 1; want <= 2; want++ {
		topic, _, err := f.RecvRaw(ctx)
		if err != nil || topic != "watcher.web.spawn" {
			t.Fatalf("event %d through two 502s of a proxy: %q, %v", want, topic, err)
		}
	}
	if n := opened.Load(); n < 4 {
		t.Errorf("stream opened %d times, want the two 502s tried again", n)
	}
}
