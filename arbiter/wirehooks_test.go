package arbiter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/poold/poold/configs"
)

// A hook given on the control socket (add's or set's hooks object) whose
// program cannot run is refused at once, as circusd refuses a hook it
// cannot import: it used to be accepted, and failed only when its event
// came (a before_start at the watcher's start). A program that went away
// after its hook was set does not refuse a set that leaves the hooks as
// they are.
func TestHooksOnTheWireAreChecked(t *testing.T) {
	h := start(t, &configs.Config{}, Options{})
	hook := filepath.Join(t.TempDir(), "check-db")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, h, []refusal{
		{"add", map[string]any{"name": "py", "cmd": "sleep 100", "options": map[string]any{"hooks": map[string]any{"before_start": "myapp.hooks.check"}}},
			`myapp.hooks.check reads as a Python callable`},
		{"add", map[string]any{"name": "gone", "cmd": "sleep 100", "options": map[string]any{"hooks": map[string]any{"after_spawn": "/nonexistent/notify"}}},
			`hooks.after_spawn: /nonexistent/notify: not found`},
	})
	if got := h.do("list", nil)["watchers"]; len(got.([]string)) != 0 {
		t.Fatalf("refused adds left watchers %v", got)
	}
	h.do("add", map[string]any{"name": "web", "cmd": "sleep 100", "options": map[string]any{"hooks": map[string]any{"before_start": hook}}})
	expectRefused(t, h, []refusal{
		{"set", map[string]any{"name": "web", "options": map[string]any{"hooks": map[string]any{"after_start": "notify.spawned"}}},
			`notify.spawned reads as a Python callable`},
	})
	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 3}})
}
