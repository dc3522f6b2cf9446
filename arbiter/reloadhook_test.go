package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestReloadDuringFailingBeforeStartSaysTheHookFailed: a config reload
// that changed a watcher while its before_start hook ran, a hook that
// then failed, reported "reload cut short: a stop came in before every
// worker was replaced" though nobody stopped it. It now says that its
// start failed, and why.
func TestReloadDuringFailingBeforeStartSaysTheHookFailed(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	w := testWatcher("web", "sleep", 1)
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"before_start": hookScript(t, dir, "wait.sh",
		"while [ ! -e "+gate+" ]; do sleep 0.05; done\necho db not reachable >&2\nexit 3\n")}
	next := w
	next.Hooks = map[string]string{"before_start": hookScript(t, dir, "ok.sh", "exit 0\n")}
	cfg := &configs.Config{Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		return &configs.Config{Watchers: []configs.Watcher{next}}, nil
	}})
	h.waitStatus("web", "starting")
	replies := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	proctest.Eventually(t, "the reload applied", func() bool {
		return strings.Contains(h.log.String(), "config reload applying")
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := awaitReply(t, "reloadconfig", replies)
	reason := fmt.Sprint(r["reason"])
	if strings.Contains(reason, "a stop came in") || !strings.Contains(reason, "the before_start hook failed") || !strings.Contains(reason, "db not reachable") {
		t.Errorf("waited reloadconfig while before_start ran, then failed: %v; want it to say the before_start hook failed, and why", r)
	}
}
