package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarnOptionalDependency: a watcher that counts for readiness and
// depends on one with required_for_readiness = false gets a warning
// naming both; --check said nothing, and /readyz stayed ready while the
// dependency failed.
func TestWarnOptionalDependency(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"required on optional", `
[watchers.web]
cmd = "/bin/sleep"
depends_on = ["db"]
[watchers.db]
cmd = "/bin/sleep"
required_for_readiness = false
`, `watchers.db.required_for_readiness: is false, but watcher "web", which counts for readiness, depends on it`},
		{"manual on optional: counts once started", `
[watchers.web]
cmd = "/bin/sleep"
autostart = false
depends_on = ["db"]
[watchers.db]
cmd = "/bin/sleep"
required_for_readiness = false
`, `watchers.db.required_for_readiness: is false, but watcher "web", which counts for readiness once started (autostart = false), depends on it`},
		{"both optional", `
[watchers.web]
cmd = "/bin/sleep"
depends_on = ["db"]
required_for_readiness = false
[watchers.db]
cmd = "/bin/sleep"
required_for_readiness = false
`, ""},
		{"optional on required", `
[watchers.web]
cmd = "/bin/sleep"
depends_on = ["db"]
required_for_readiness = false
[watchers.db]
cmd = "/bin/sleep"
`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := strings.Join(cfg.Warnings, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("warnings:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}
