package remote

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFollowerNoticesAStalledHost: a host that stops answering without
// closing its connection (poold frozen by SIGSTOP, a machine gone off the
// network without a reset) left a follower waiting forever: the stream
// never broke, so `poolctl events` never said the host was gone. poold
// pings every stream every 20 s; a stream silent for Idle is now taken as
// lost, and opening it again is bounded by RetryFor.
func TestFollowerNoticesAStalledHost(t *testing.T) {
	c, _ := followServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			spawnEvent(w, "1")
		}
		<-r.Context().Done() // frozen: nothing more, never closed
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lost := make(chan string, 4)
	f, err := c.Follow(ctx, nil, 0, FollowOptions{Idle: 300 * time.Millisecond, RetryFor: 500 * time.Millisecond, Poll: 50 * time.Millisecond,
		Lost: func(err error, _ uint64) { lost <- err.Error() }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if topic, _, err := f.RecvRaw(ctx); err != nil || topic != "watcher.web.spawn" {
		t.Fatalf("first event: %q, %v", topic, err)
	}
	got := make(chan error, 1)
	go func() {
		_, _, err := f.RecvRaw(ctx)
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "not back within") {
			t.Errorf("a stalled host: %v, want it reported not back", err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-got
		t.Fatal("a stalled host's stream waited forever")
	}
	if why := <-lost; !strings.Contains(why, "no event or ping") {
		t.Errorf("why the stream was lost: %q", why)
	}
}
