package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A stop with stop_children = false that spans an upgrade: the worker,
// signalled alone, ends after the exec and leaves a child it did not
// stop. The old image would have passed the stop signal on to it; the
// new one, which did not know which signal the stop sent nor to whom,
// left it to be SIGKILLed at graceful_timeout, its requests lost (the
// stops reviewer).
func TestUpgradeKeepsAStopChildrenOffStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	child := `trap 'echo child-term >> "$1/log"; kill $s 2>/dev/null; exit 0' TERM
echo $$ > "$1/child.pid"
while :; do sleep 1000 & s=$!; wait $s; done
`
	// On TERM the master waits for the test's go-ahead, then leaves
	// without stopping its child.
	master := `trap 'echo master-term >> "$0/log"; while [ ! -e "$0/go" ]; do sleep 0.05; done; exit 0' TERM
/bin/sh "$0/child.sh" "$0" &
while :; do sleep 1000 & wait $!; done
`
	for name, script := range map[string]string{"child.sh": child, "master.sh": master} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startUpgradable(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "/bin/sh"
args = ["-c", ". \"$0/master.sh\"", %q]
stop_children = false
graceful_timeout = "50s"
`, dir))
	proctest.Eventually(t, "the child to start", func() bool {
		_, err := os.Stat(filepath.Join(dir, "child.pid"))
		return err == nil
	})
	if r := p.do("stop", map[string]any{"name": "web"}); r["status"] != "ok" {
		t.Fatalf("stop: %v", r)
	}
	proctest.Eventually(t, "the master to have its SIGTERM", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		return strings.Contains(string(b), "master-term")
	})
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during the stop: %v %v", o, refused)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the master's child to have the stop signal", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		return strings.Contains(string(b), "child-term")
	})
}
