package supervisorini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryRefusalAtOnce: --check prints every problem of a config at
// once (README "Running poold"), but of a supervisord file it printed only
// the first option supervisord would refuse: fixing autorestart = maybe
// revealed startsecs = -1, and so on, one --check at a time.
func TestEveryRefusalAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[program:x]\ncommand = /bin/sleep 5\nautorestart = maybe\nstartsecs = -1\n[program:y]\ncommand = /bin/echo %(ENV_POOLD_TEST_UNSET_X)s\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Translate(path, nil)
	if err == nil {
		t.Fatal("Translate accepted autorestart = maybe")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{":3: [program:x] autorestart:", ":4: [program:x] startsecs:", ":6: [program:y] command:"} {
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, "supervisorini: ") && strings.Contains(l, want))
		}
		if !found {
			t.Errorf("error lacks a line with %q:\n%s", want, err)
		}
	}
	if len(lines) != 3 {
		t.Errorf("want 3 lines, one a refusal, got %d:\n%s", len(lines), err)
	}
}
