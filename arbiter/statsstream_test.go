package arbiter

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestSocketStatsCarryTheirSubtopic: circusd-stats publishes each
// socket's stats with a subtopic field (the fd, also the topic's last
// part), as it does for each process; poold's stat.sockets.<fd> had none.
func TestSocketStatsCarryTheirSubtopic(t *testing.T) {
	w := testWatcher("web", "sleep", 1)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	bus := events.NewBus(nil)
	sub := bus.Subscribe(16, "stat.sockets.")
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.RunStats(ctx, 10*time.Millisecond, bus) }()
	defer func() { cancel(); <-done }()
	select {
	case ev := <-sub.C():
		fd := ev.Topic[strings.LastIndexByte(ev.Topic, '.')+1:]
		if got := ev.Fields["subtopic"]; strconv.Itoa(toInt(got)) != fd {
			t.Errorf("%s: subtopic %v, want %s", ev.Topic, got, fd)
		}
	case <-time.After(hang):
		t.Fatalf("no socket stats within %v", hang)
	}
}

func toInt(v any) int {
	n, _ := v.(int)
	return n
}
