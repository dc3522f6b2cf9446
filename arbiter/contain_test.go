package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestLimitsWithoutCgroupsFailTheStart: without cgroups (poold not root,
// no delegation, or cgroups turned off) memory_max, pids_max and cpu_max
// were dropped without a word, and a worker ran at 168M under a 64M
// limit. The README promises that a limit that cannot be applied fails
// the start, naming it; a watcher without limits starts as before.
func TestLimitsWithoutCgroupsFailTheStart(t *testing.T) {
	limited := testWatcher("limited", "sleep", 1)
	limited.MemoryMax, limited.CPUMax = 64<<20, 50
	limited.Autostart = false
	free := testWatcher("free", "sleep", 1)
	free.Autostart = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{limited, free}}, Options{NoCgroups: true})
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "limited", "waiting": true}})
	want := `memory_max, cpu_max cannot be enforced: poold has no cgroups (containment: process group (cgroups turned off))`
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, want) || !strings.Contains(reason, `remove memory_max, cpu_max from watcher "limited"`) {
		t.Errorf("waited start of a watcher with limits and no cgroups: %v, want %q", r, want)
	}
	if l := h.do("list", map[string]any{"name": "limited"}); len(l["pids"].([]int)) != 0 {
		t.Errorf("a worker runs without its limits: %v", l)
	}
	h.do("start", map[string]any{"name": "free", "waiting": true})
}

// TestGlobalOptionsNameTheContainment: the README sends users to
// globaloptions for the containment in force; it was not there.
func TestGlobalOptionsNameTheContainment(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	opts := h.do("globaloptions", nil)["options"].(map[string]any)
	st := h.do("status", map[string]any{"name": "web"})
	if opts["containment"] != "process group (cgroups turned off)" || opts["containment"] != st["containment"] {
		t.Errorf("globaloptions containment %q, status's %q", opts["containment"], st["containment"])
	}
	if r := h.do("globaloptions", map[string]any{"option": "containment"}); r["options"].(map[string]any)["containment"] != opts["containment"] {
		t.Errorf("globaloptions containment alone: %v", r)
	}
}
