package remote

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFollowerGivesUpOnAStreamThatBreaksBeforeEveryEvent: a host whose
// stream opens fine and breaks before its next event every time (one
// that cuts it at an event over the reader's limit, which the replay
// from the last seq sends again) made poolctl events reconnect without
// end, four "event stream lost" lines a second. The follower now waits
// longer after each such break and gives up after RetryFor of them.
func TestFollowerGivesUpOnAStreamThatBreaksBeforeEveryEvent(t *testing.T) {
	c, opened := followServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			spawnEvent(w, "1")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush() // and the stream ends
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lost atomic.Int32
	f, err := c.Follow(ctx, nil, 0, FollowOptions{RetryFor: time.Second, Poll: 20 * time.Millisecond,
		Lost: func(error, uint64) { lost.Add(1) }})
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
		if err == nil || !strings.Contains(err.Error(), "before bringing an event") || !strings.Contains(err.Error(), "given up") {
			t.Errorf("a stream that breaks before every event: %v, want it given up", err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-got
		t.Fatalf("a stream that breaks before every event was reopened for 20 s (%d times)", opened.Load())
	}
	// At once, then after 20, 40, ... ms: a handful of reconnections
	// in the second, not one every Poll.
	if n := lost.Load(); n > 10 {
		t.Errorf("%d reconnections in RetryFor (1 s); want the waits between them to grow", n)
	}
}
