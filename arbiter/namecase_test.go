package arbiter

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadOfANameWhoseCaseChanged: a file whose [watchers.Other]
// became [watchers.OTHER] names the same watcher (names are matched
// without case), so a reload keeps its workers and gives it the new
// spelling (updated); circusd stops it and starts a new one. list and
// the topics still say "other".
func TestReloadOfANameWhoseCaseChanged(t *testing.T) {
	before := testWatcher("Other", "sleep", 1)
	after := before
	after.Name = "OTHER"
	h := start(t, &configs.Config{Watchers: []configs.Watcher{before}}, Options{
		Load: func() (*configs.Config, error) { return &configs.Config{Watchers: []configs.Watcher{after}}, nil },
	})
	pids := readyPids(t, h, "Other", 1) // events carry the name as configured
	if r := h.do("reloadconfig", map[string]any{"waiting": true}); fmt.Sprint(r["removed"], r["added"]) != "[] []" {
		t.Errorf("reloadconfig: %v, want nothing removed or added", r)
	}
	if st := h.do("status", nil)["statuses"].(map[string]any); st["OTHER"] != "active" {
		t.Errorf("statuses after the reload: %v, want OTHER active", st)
	}
	if got := h.do("list", map[string]any{"name": "Other"})["pids"].([]int); len(got) != 1 || !pids[got[0]] {
		t.Errorf("pids after the reload: %v, want the same workers %v", got, pids)
	}
	if ws := h.do("list", nil)["watchers"].([]string); !slices.Equal(ws, []string{"other"}) {
		t.Errorf("list: %q, want [other]", ws)
	}
}

// TestAddOfAnotherCaseNamesTheExisting: add "myapp" beside "MyApp" is
// refused (names are matched without case); the reason said
// `watcher "myapp" already exists`, a name no list or status showed
// (r66 review2 F4): it names the existing spelling.
func TestAddOfAnotherCaseNamesTheExisting(t *testing.T) {
	w := testWatcher("MyApp", "sleep", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	r := h.a.Do(t.Context(), Request{ID: "t", Command: "add", Properties: map[string]any{"name": "myapp", "cmd": w.Cmd}})
	if reason, _ := r["reason"].(string); r["status"] != "error" || !strings.Contains(reason, `watcher "myapp" already exists as "MyApp"`) {
		t.Errorf("add myapp beside MyApp: %v, want a refusal naming MyApp", r)
	}
}
