package main

import (
	"fmt"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// dstats shows the event stream's subscribers and what they lost, where an
// operator without a metrics listener looks (before, only /metrics and a
// warning logged at most once a minute did).
func TestDstatsShowsEventSubscribers(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	evs := startPySub(t, "ipc://"+p.dir+"/e.sock")
	proctest.Eventually(t, "the subscriber to get events", func() bool {
		p.do("incr", map[string]any{"name": "web", "waiting": true})
		select {
		case <-evs:
			return true
		default:
			return false
		}
	})
	info, _ := p.do("dstats", nil)["info"].(map[string]any)
	if n, _ := info["events_subscribers"].(float64); n < 1 {
		t.Fatalf("dstats events_subscribers %v with a subscriber connected; info %v", info["events_subscribers"], info)
	}
	for _, k := range []string{"events_dropped", "events_evicted", "stats_subscribers", "stats_dropped"} {
		if _, ok := info[k].(float64); !ok {
			t.Errorf("dstats info lacks %s: %v", k, info)
		}
	}
	if _, ok := info["events_behind"].(string); !ok {
		t.Errorf("dstats info lacks events_behind: %v", info)
	}
}
