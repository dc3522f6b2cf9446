package arbiter

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestWaitedChangeThatFailedFails: a waited set whose rolling reload was
// abandoned (the new cmd cannot start), and a waited add with start whose
// program is missing, answered ok while status said otherwise; a waited
// reload and start already failed in the same case. They now fail with
// the reason, ErrnoAsync. A set of a cmd that is not there at all is
// refused before anything changes (TestSetThatCannotStartIsRefused); this
// set's program is there, passes the checks and fails at exec (no ELF),
// and the old worker keeps serving.
func TestWaitedChangeThatFailedFails(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	w := testWatcher("web", "sleep", 1)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	old := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	for _, tc := range []struct {
		cmd   string
		props map[string]any
		want  string
	}{
		{"set", map[string]any{"name": "web", "options": map[string]any{"cmd": garbage}}, "abandoned"},
		{"add", map[string]any{"name": "extra", "cmd": "/nonexistent/prog", "start": true}, "has no worker"},
	} {
		tc.props["waiting"] = true
		r := h.a.Do(context.Background(), Request{ID: "x", Command: tc.cmd, Properties: tc.props})
		reason, _ := r["reason"].(string)
		if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(reason, tc.want) {
			t.Errorf("waited %s that failed: %v; want an error (errno %d) saying %q", tc.cmd, r, ErrnoAsync, tc.want)
		}
	}
	if now := h.do("list", map[string]any{"name": "web"})["pids"].([]int); !slices.Equal(now, old) {
		t.Errorf("web's workers %v after the failed set, want the old %v kept", now, old)
	}
	// Without waiting, the reply only says the change was taken.
	if r := h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 3}}); r["status"] != "ok" {
		t.Errorf("set: %v", r)
	}
}
