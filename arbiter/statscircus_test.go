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

// TestStatsStreamAsCircusd: what the r65 protocol trial found on the
// stats stream against circusd-stats:
//   - F7: a stopped watcher got a stat.<watcher> aggregate every round
//     with an empty pid list, where circusd publishes nothing for it
//     (circus-top painted an empty group at 0 % CPU);
//   - F10: messages carried seq but no instance, which the events carry,
//     so a subscriber could not tell a restart of poold from a loss;
//   - F9: stat.sockets.<fd> named poold's own fd, where listsockets
//     reports the workers' fd (circusd uses one fd for both), so a
//     consumer joining them by fd found no match.
func TestStatsStreamAsCircusd(t *testing.T) {
	// web's workers get the socket at fd 3; poold holds it at a higher fd.
	web := testWatcher("web", "sleep", 1)
	web.Sockets = []string{"web"}
	idle := testWatcher("idle", "sleep", 1)
	idle.Autostart = false
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{web, idle}}
	h := start(t, cfg, Options{})
	h.spawns(1)
	ls, _ := h.do("listsockets", nil)["sockets"].([]map[string]any)
	if len(ls) != 1 {
		t.Fatalf("listsockets: %v", ls)
	}
	wantFD, pooldFD := ls[0]["fd"], ls[0]["poold_fd"]
	if wantFD == pooldFD {
		t.Fatalf("listsockets %v: poold's own fd is the workers' here; the test cannot tell them apart", ls[0])
	}

	bus := events.NewBus(nil)
	sub := bus.Subscribe(1024, "stat.")
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.RunStats(ctx, 10*time.Millisecond, bus) }()
	defer func() { cancel(); <-done }()

	// Three rounds: each ends with stat.sockets, published last.
	seen := map[string]int{}
	deadline := time.After(hang)
	for rounds := 0; rounds < 3; {
		select {
		case ev := <-sub.C():
			seen[ev.Topic]++
			if inst, _ := ev.Payload()["instance"].(string); inst == "" {
				t.Errorf("%s: payload %v has no instance", ev.Topic, ev.Payload())
			}
			if strings.HasPrefix(ev.Topic, "stat.sockets.") {
				if ev.Fields["fd"] != wantFD || ev.Fields["poold_fd"] != pooldFD {
					t.Errorf("%s: fd %v, poold_fd %v; want listsockets' fd %v, poold_fd %v", ev.Topic, ev.Fields["fd"], ev.Fields["poold_fd"], wantFD, pooldFD)
				}
			}
			if ev.Topic == "stat.sockets" {
				rounds++
			}
		case <-deadline:
			t.Fatalf("no 3 rounds of stats within %v; seen %v", hang, seen)
		}
	}
	if seen["stat.web"] == 0 {
		t.Errorf("no stat.web aggregate for the running watcher; seen %v", seen)
	}
	if n := seen["stat.idle"]; n > 0 {
		t.Errorf("%d stat.idle aggregates for a stopped watcher, where circusd publishes none", n)
	}
	if seen["stat.sockets."+toString(wantFD)] == 0 {
		t.Errorf("no stat.sockets.%v (the fd listsockets reports); seen %v", wantFD, seen)
	}
}

func toString(v any) string {
	n, _ := v.(int)
	return strconv.Itoa(n)
}
