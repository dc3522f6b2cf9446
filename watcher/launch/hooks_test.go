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
