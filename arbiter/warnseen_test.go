package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// A reload repeated every warning of the file each time (a supervisord
// file's translation notes on every SIGHUP or reloadconfig), so the one
// a later edit brought was lost among them (r67 supervisord trial F8).
// The reply tells only the new ones, and counts the others, also when an
// edit above moved their lines.
func TestReloadTellsOnlyNewWarnings(t *testing.T) {
	w := testWatcher("w", "sleep", 1)
	cfg := configs.Config{Watchers: []configs.Watcher{w},
		Warnings: []string{"live.conf:4: [supervisord] pidfile: no poold equivalent", "live.conf:9: [program:w] childlogdir: x"}}
	h := start(t, &cfg, Options{Load: func() (*configs.Config, error) {
		c := cfg
		c.Warnings = []string{"live.conf:6: [supervisord] pidfile: no poold equivalent", "live.conf:11: [program:w] childlogdir: x",
			"live.conf:14: [program:w] stopwaitsec: unknown supervisord option"}
		return &c, nil
	}})
	h.spawned()
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	got := fmt.Sprint(r["warnings"])
	if !strings.Contains(got, "stopwaitsec") || strings.Contains(got, "pidfile") || r["warnings_known"] != 2 {
		t.Errorf("reloadconfig: want only the stopwaitsec warning and warnings_known 2: %v", r)
	}
}
