package supervisorini

import (
	"testing"
	"time"
)

// TestStopwaitsecsDefault: supervisord SIGKILLs a program still running
// 10 s after its stop signal when stopwaitsecs is absent. The translation
// kept poold's 30 s, so a converted program that ignores SIGTERM held
// every stop (and poold's exit, and TimeoutStopSec sums) three times as
// long as under supervisord.
func TestStopwaitsecsDefault(t *testing.T) {
	_, cfg, _ := translateConf(t, "[program:plain]\ncommand = /bin/sleep 100\n[program:set]\ncommand = /bin/sleep 100\nstopwaitsecs = 3\n")
	want := map[string]time.Duration{"plain": 10 * time.Second, "set": 3 * time.Second}
	for _, w := range cfg.Watchers {
		if w.GracefulTimeout != want[w.Name] {
			t.Errorf("[program:%s]: graceful_timeout %v, want %v", w.Name, w.GracefulTimeout, want[w.Name])
		}
	}
}
