package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestLimitsWithoutCgroupsRefusedUpFront (r56b nonroot, finding 2): on a
// poold without cgroups, set memory_max answered ok, and the rolling
// change was abandoned later; add of a watcher with pids_max added one
// that flapped, then failed; a reload that gave a watcher cpu_max applied
// it to the same end. Each is refused up front, naming the key, as
// oom_score_adj is; a set of another key of a watcher that has a limit
// already is not (it does not bring the limit), and a watcher without
// limits is left alone.
func TestLimitsWithoutCgroupsRefusedUpFront(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	held := testWatcher("held", "sleep", 1)
	held.MemoryMax, held.Autostart = 64<<20, false // from the file: it fails at its start
	cfg := &configs.Config{Watchers: []configs.Watcher{web, held}}
	reloaded := web
	reloaded.CPUMax = 50
	next := &configs.Config{Watchers: []configs.Watcher{reloaded, held}}
	h := start(t, cfg, Options{NoCgroups: true, Load: func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }})
	pids := fmt.Sprint(h.do("list", map[string]any{"name": "web"})["pids"])
	why := "cannot be enforced: poold has no cgroups (containment: process group (cgroups turned off)), so no worker of watcher "

	do := func(cmd string, props map[string]any) Reply {
		t.Helper()
		return h.a.Do(context.Background(), Request{ID: cmd, Command: cmd, Properties: props})
	}
	r := do("set", map[string]any{"name": "web", "options": map[string]any{"memory_max": "64M"}, "waiting": true})
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoBadProperty || !strings.Contains(reason, `memory_max: `+why+`"web" could start`) || !strings.Contains(reason, "nothing was changed") {
		t.Errorf("set memory_max without cgroups: %v, want it refused naming the key", r)
	}
	r = do("add", map[string]any{"name": "capped", "cmd": web.Cmd, "options": map[string]any{"pids_max": 10.0}})
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoBadProperty || !strings.Contains(reason, `pids_max: `+why+`"capped" could start`) {
		t.Errorf("add with pids_max without cgroups: %v, want it refused naming the key", r)
	}
	if l := h.do("list", nil); strings.Contains(fmt.Sprint(l["watchers"]), "capped") {
		t.Errorf("the refused add added its watcher: %v", l)
	}
	r = do("reloadconfig", map[string]any{"waiting": true})
	if reason := fmt.Sprint(r["reason"]); r["status"] != "error" || !strings.Contains(reason, `watchers.web.cpu_max: `+why+`"web" could start`) || strings.Contains(reason, "held") {
		t.Errorf("reload giving cpu_max without cgroups: %v, want it refused naming watchers.web.cpu_max only", r)
	}
	if got := fmt.Sprint(h.do("list", map[string]any{"name": "web"})["pids"]); got != pids {
		t.Errorf("web's workers changed: %s, were %s", got, pids)
	}
	if o := h.do("get", map[string]any{"name": "web", "keys": []any{"memory_max", "cpu_max"}})["options"].(Ordered).Values; fmt.Sprint(o["memory_max"]) != "0" || fmt.Sprint(o["cpu_max"]) != "0" {
		t.Errorf("web's limits after the refusals: %v, want none", o)
	}
	// A set of another key of a watcher with a limit already: not the
	// set's trouble.
	h.do("set", map[string]any{"name": "held", "options": map[string]any{"graceful_timeout": 3.0}})
}
