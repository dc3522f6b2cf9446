package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStuckAfterKey: [arbiter] stuck_after (30s fixed before) sets how
// long one step of the loop is "busy" for /healthz before "stuck"; it
// must stay above /healthz's 1 s wait and below an hour.
func TestStuckAfterKey(t *testing.T) {
	load := func(v string) (*Config, error) {
		path := filepath.Join(t.TempDir(), "p.toml")
		if err := os.WriteFile(path, []byte("[arbiter]\nstuck_after = "+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	if cfg, err := load(`"10s"`); err != nil || cfg.Arbiter.StuckAfter != 10*time.Second {
		t.Errorf("stuck_after = 10s: %v, %v", cfg, err)
	}
	for v, want := range map[string]string{
		`"1s"`:  "arbiter.stuck_after: must be between 2s and 1h0m0s, got 1s",
		`"2h"`:  "arbiter.stuck_after: must be between 2s and 1h0m0s, got 2h0m0s",
		`0`:     "arbiter.stuck_after: must be a positive duration",
		`"abc"`: "arbiter.stuck_after: must be a duration",
	} {
		if _, err := load(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stuck_after = %s: %v, want %q", v, err, want)
		}
	}
}
