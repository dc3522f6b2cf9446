package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestSetThatCannotStartIsRefused: a set (not waited) whose watcher could
// then never start a worker (a missing cmd, a working_dir that is not
// there, a user that may not enter it) answered ok and was quietly undone
// by the abandoned rolling change, while a reload refused the same change
// up front. It is refused, errno 3, naming the option and the fix, and
// nothing changes. A problem the watcher had before the set does not
// refuse an unrelated one.
func TestSetThatCannotStartIsRefused(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	private := filepath.Join(dir, "private")
	for _, d := range []string{work, private} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	w := testWatcher("web", "sleep", 1)
	w.WorkingDir = work
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	cases := []struct {
		options  map[string]any
		key, say string
	}{
		{map[string]any{"cmd": "/nonexistent/prog"}, "cmd:", "/nonexistent/prog"},
		{map[string]any{"cmd": "no-such-program-here"}, "cmd:", "no-such-program-here"},
	}
	if os.Getuid() == 0 {
		cases = append(cases, struct {
			options  map[string]any
			key, say string
		}{map[string]any{"uid": "nobody", "working_dir": private}, "working_dir:", "nobody"})
	}
	for _, tc := range cases {
		r := h.a.Do(context.Background(), Request{ID: "x", Command: "set", Properties: map[string]any{"name": "web", "options": tc.options}})
		reason := fmt.Sprint(r["reason"])
		if r["status"] != "error" || r["errno"] != ErrnoBadProperty || !strings.Contains(reason, tc.key) ||
			!strings.Contains(reason, tc.say) || !strings.Contains(reason, "nothing was changed") {
			t.Errorf("set %v: %v; want an error (errno %d) naming %q and %q", tc.options, r, ErrnoBadProperty, tc.key, tc.say)
		}
	}
	opts := h.do("options", map[string]any{"name": "web"})["options"].(map[string]any)
	if opts["cmd"] != w.Cmd || opts["working_dir"] != work || opts["uid"] != nil && opts["uid"] != "" {
		t.Errorf("options after the refused sets: cmd %v, working_dir %v, uid %v; want them unchanged", opts["cmd"], opts["working_dir"], opts["uid"])
	}
	// working_dir gone since the watcher started: its own trouble, not a
	// reason to refuse a set of something else.
	if err := os.Remove(work); err != nil {
		t.Fatal(err)
	}
	if r := h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 3}}); r["status"] != "ok" {
		t.Errorf("unrelated set on a watcher whose working_dir went away: %v", r)
	}
}
