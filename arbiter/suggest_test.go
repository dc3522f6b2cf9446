package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// Defect (r58 cli trial): a mistyped watcher name got every watcher's
// name on one line and no suggestion, and get with a mistyped key listed
// ~90 options, while set and the commands said "did you mean". Both now
// suggest the closest name and list at most maxListed names.
func TestNotFoundSuggestsAndCapsTheList(t *testing.T) {
	cfg := &configs.Config{Watchers: []configs.Watcher{testWatcher("goweb", "sleep", 0), testWatcher("gunicorn", "sleep", 0)}}
	for i := 1; i <= 11; i++ {
		cfg.Watchers = append(cfg.Watchers, testWatcher(fmt.Sprintf("w%d", i), "sleep", 0))
	}
	h := start(t, cfg, Options{})
	cases := []struct {
		cmd   string
		props map[string]any
		want  string
	}{
		{"status", map[string]any{"name": "gowb"}, `program gowb not found; did you mean "goweb"? (known: goweb, gunicorn, w1, w10, w11, w2, w3, w4, w5, w6 and 3 more: the list command lists them all)`},
		// w1..w9 are all one edit away: no single suggestion.
		{"status", map[string]any{"name": "w"}, `program w not found (known: goweb, gunicorn, w1, w10, w11, w2, w3, w4, w5, w6 and 3 more: the list command lists them all)`},
		{"get", map[string]any{"name": "goweb", "keys": []any{"numprocess"}}, `get: watcher "goweb" has no option numprocess; did you mean "numprocesses"? (options: args, `},
		// r61 pm2 trial: PM2's cwd is poold's working_dir, not cmd.
		{"get", map[string]any{"name": "goweb", "keys": []any{"cwd"}}, `get: watcher "goweb" has no option cwd; did you mean "working_dir"? (options: args, `},
	}
	for _, tc := range cases {
		r := h.a.Do(context.Background(), Request{ID: "c", Command: tc.cmd, Properties: tc.props})
		reason := fmt.Sprint(r["reason"])
		if r["errno"] != ErrnoBadProperty || !strings.Contains(reason, tc.want) {
			t.Errorf("%s %v: %v\nwant errno 3 with %q", tc.cmd, tc.props, r, tc.want)
		}
	}
	r := h.a.Do(context.Background(), Request{ID: "c", Command: "get", Properties: map[string]any{"name": "goweb", "keys": []any{"numprocess"}}})
	if reason := fmt.Sprint(r["reason"]); strings.Count(reason, ",") > maxListed || !strings.HasSuffix(reason, "more: the options command lists them all)") {
		t.Errorf("get's list of options is not capped at %d: %s", maxListed, reason)
	}
}
