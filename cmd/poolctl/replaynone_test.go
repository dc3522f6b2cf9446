package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestEventsSinceWithoutHistory: `events --since` from a poold that keeps
// no history (event_history = 0) said events "#1 to
// #18446744073709551615" were lost. It names the events that were, and
// why.
func TestEventsSinceWithoutHistory(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{arbiter: "event_history = 0"})
	p.waitPids(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--endpoint", p.control, "events", "--since", "0"}, out, errb) }()
	said := proctest.Poll(20*time.Second, func() bool { return strings.Contains(errb.String(), "are lost") })
	cancel()
	<-done
	msg := errb.String()
	if !said || !strings.Contains(msg, "events #1 to #") || !strings.Contains(msg, "event_history = 0") || strings.Contains(msg, "18446744073709551615") {
		t.Fatalf("events --since 0 from a poold without history: stderr %q; want the lost events named and event_history = 0", msg)
	}
}
