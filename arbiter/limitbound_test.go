package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestSetAndAddRefuseLimitsTheKernelCannotTake: `set web cpu_max 1e308`
// answered ok and the workers got 1 % of a core (the quota wrapped); a
// pids_max over the kernel's PID_MAX_LIMIT made every spawn fail. set and
// add now refuse them (errno 3) naming the key, the value and the bound,
// and nothing changes.
func TestSetAndAddRefuseLimitsTheKernelCannotTake(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{NoCgroups: true})
	h.spawned()
	for _, tc := range []struct {
		key  string
		val  any
		want string
	}{
		{"cpu_max", 1e308, "cpu_max: must be at most 17592186044 (percent of one core"},
		{"cpu_max", "1e308", "got 1e+308; use 0 for no limit"},
		{"cpu_max", 18446744073709551616.0, "got 1.8446744073709552e+19"},
		{"pids_max", 4194305, "pids_max: must be at most 4194304"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		opts := map[string]any{tc.key: tc.val}
		for _, req := range []Request{
			{Command: "set", Properties: map[string]any{"name": "web", "options": opts}},
			{Command: "add", Properties: map[string]any{"name": "other", "cmd": "/bin/sleep", "options": opts}},
		} {
			r := h.a.Do(ctx, req)
			if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoBadProperty || !strings.Contains(reason, tc.want) {
				t.Errorf("%s %s = %v: %v; want errno %d saying %q", req.Command, tc.key, tc.val, r, ErrnoBadProperty, tc.want)
			}
		}
		cancel()
	}
	if got := h.do("get", map[string]any{"name": "web", "keys": []any{"cpu_max", "pids_max"}})["options"]; !strings.Contains(fmt.Sprint(got), "map[cpu_max:0 pids_max:0]") {
		t.Errorf("web's limits after the refused sets: %v, want both 0", got)
	}
	if got := h.do("list", nil)["watchers"]; fmt.Sprint(got) != "[web]" {
		t.Errorf("watchers after the refused adds: %v, want [web]", got)
	}
}
