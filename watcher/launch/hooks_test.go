package launch

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

func TestCheckHooks(t *testing.T) {
	w := configs.DefaultWatcher("web")
	w.Cmd = "/bin/sleep 1"
	w.Hooks = map[string]string{"before_start": "/nonexistent/check-db --quick", "after_stop": "true"}
	err := Check(w)
	if err == nil || !strings.Contains(err.Error(), "watchers.web.hooks.before_start: /nonexistent/check-db: not found") {
		t.Fatalf("Check: %v", err)
	}
	if strings.Contains(err.Error(), "after_stop") {
		t.Errorf("a hook found on PATH reported: %v", err)
	}
}

// TestCheckHooksAdviseOnPooldsSide: a hook not found or not executable
// was reported with a worker's advice ("set PATH in env", "run the
// watcher as another user"), neither of which changes anything for a
// hook: poold runs it as its own user with its own environment.
func TestCheckHooksAdviseOnPooldsSide(t *testing.T) {
	dir := openDir(t)
	plain := program(t, dir, "plain.sh", 0o644)
	w := configs.DefaultWatcher("web")
	w.Cmd = "/bin/sleep 1"
	w.UID = "nobody"
	w.Env = []string{"PATH=" + dir}
	w.Hooks = map[string]string{"before_start": "no-such-hook-program", "after_start": plain}
	w.HealthCheck, w.HealthCmd = "exec", "no-such-health-program"
	err := Check(w)
	if err == nil {
		t.Fatal("Check passed")
	}
	msg := err.Error()
	for _, want := range []string{
		`watchers.web.hooks.before_start: "no-such-hook-program": not found in PATH`,
		"add its directory to poold's own PATH: poold runs it with its own environment, not the watcher's env",
		"watchers.web.hooks.after_start: " + plain + ": not executable by",
		"allow it with chmod: poold runs it as its own user, whatever the watcher's uid",
		`watchers.web.health_cmd: "no-such-health-program": not found in PATH`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"set PATH in env", "run the watcher as another user"} {
		if strings.Contains(msg, bad) {
			t.Errorf("Check advises %q for a program poold runs itself:\n%s", bad, msg)
		}
	}
}
