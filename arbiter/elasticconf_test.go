package arbiter

import (
	"strings"
	"testing"
)

// TestOnDemandWakesWithItsNumprocesses: the first connection to a cold
// on_demand pool starts max(numprocesses, 1) workers (at most
// max_workers), and an on_demand pool without max_workers is bounded by
// its numprocesses, as Circus's on_demand (0 or N); a set of another
// option while it is cold changes neither.
func TestOnDemandWakesWithItsNumprocesses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max, want int
		set       bool
	}{
		{"max_workers 6", 6, 3, false},
		{"no max_workers", 0, 3, false},
		{"after a set", 0, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := onDemandConfig("serve", tc.max, 0)
			cfg.Watchers[0].NumProcesses = 3
			h := start(t, cfg, Options{})
			if tc.set {
				h.do("set", map[string]any{"name": "lazy", "options": map[string]any{"idle_timeout": 3600}, "waiting": true})
			}
			wantMax := max(tc.max, tc.want)
			if sz := h.size("lazy"); sz["current"] != 0 || sz["max"] != wantMax {
				t.Fatalf("cold pool size %v, want current 0, max %d", sz, wantMax)
			}
			if body, err := getWithin(h.socketAddr("front"), hang); err != nil || !strings.HasPrefix(body, "pid=") {
				t.Fatalf("first request to a cold pool: %q, %v", body, err)
			}
			up := h.next("scale", nil)
			if up.Fields["from"] != 0 || up.Fields["to"] != tc.want {
				t.Fatalf("first scale %v, want 0 -> %d (numprocesses)", up.Fields, tc.want)
			}
			h.spawns(tc.want)
			if sz := h.size("lazy"); sz["current"] != tc.want || sz["max"] != wantMax {
				t.Errorf("woken pool size %v, want current %d, max %d", sz, tc.want, wantMax)
			}
		})
	}
}
