package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestResetGoesBackToTheFile: reset NAME [KEY...] gives the keys a set
// changed the file's values, as a reload would had the file changed
// them; before it the only way back was a set of each key to the
// file's value by hand (r58 M-A). A map option goes back entry by entry
// (rlimits.core) or whole (rlimits), keys are matched whatever their
// case, and the reply says from and to.
func TestResetGoesBackToTheFile(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	web.Rlimits = map[string]uint64{"nofile": 512}
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}
	h := start(t, cfg, Options{})
	readyPids(t, h, "web", 1)
	h.do("set", map[string]any{"name": "web", "options": map[string]any{
		"max_cpu": 40, "rlimits": map[string]any{"nofile": 256, "core": 0},
		"env": append([]any{"EXTRA=1"}, anys(web.Env)...)}})
	if got := overridesOf(t, h); len(got) != 4 {
		t.Errorf("status web: overrides %v, want env, max_cpu, rlimits.core, rlimits.nofile", got)
	}

	r := h.do("reset", map[string]any{"name": "web", "keys": []any{"RLIMITS.core", "max_cpu"}, "waiting": true})
	if got := fmt.Sprint(r["reset"]); got != "[map[from:40 key:max_cpu to:0] map[from:0 key:rlimits.core to:none]]" {
		t.Errorf("reset web rlimits.core max_cpu: reset %s, want max_cpu 40 -> 0, rlimits.core 0 -> none", got)
	}
	if got := overridesOf(t, h); len(got) != 2 || got["rlimits.nofile"] != "256 (file: 512) by set" || got["env"] == "" {
		t.Errorf("status web after reset of rlimits.core and max_cpu: overrides %v, want env and rlimits.nofile left", got)
	}

	r = h.do("reset", map[string]any{"name": "web", "keys": "rlimits"})
	if got := fmt.Sprint(r["reset"]); got != "[map[from:256 key:rlimits.nofile to:512]]" {
		t.Errorf("reset web rlimits: reset %s, want rlimits.nofile 256 -> 512", got)
	}
	r = h.do("reset", map[string]any{"name": "web", "waiting": true})
	if rows := fmt.Sprint(r["reset"]); !strings.Contains(rows, "key:env") || len(overridesOf(t, h)) != 0 {
		t.Errorf("reset web: reset %s, overrides left %v; want env reset, none left", rows, overridesOf(t, h))
	}
	if got := h.a.Do(context.Background(), Request{Command: "options", Properties: map[string]any{"name": "web"}})["options"].(map[string]any); fmt.Sprint(got["rlimits"]) != "map[nofile:512]" || got["max_cpu"] != 0.0 {
		t.Errorf("options web after reset: rlimits %v max_cpu %v, want the file's nofile 512 and 0", got["rlimits"], got["max_cpu"])
	}
	if !strings.Contains(h.log.String(), "rlimits.core=0->none") || strings.Contains(h.log.String(), "EXTRA=1") {
		t.Errorf("log: want what reset changed, env's values left out:\n%s", h.log.String())
	}
}

// TestResetRefusals: what reset cannot do is refused with an errno and a
// reason that says what to do, and changes nothing.
func TestResetRefusals(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	h := start(t, &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}, Options{})
	readyPids(t, h, "web", 1)
	h.do("add", map[string]any{"name": "extra", "cmd": "sleep 3600"})
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"max_cpu": 40}})
	for _, c := range []struct {
		props map[string]any
		errno int
		words string
	}{
		{map[string]any{"name": "extra"}, ErrnoFailed, `reset: watcher "extra" was added by the add command, not by the config file`},
		{map[string]any{"name": "web", "keys": []any{"max_cpu", "numprocesses"}}, ErrnoFailed, `reset: watcher "web": numprocesses runs as the config file gives it, nothing to reset (nothing was changed); set at run time: max_cpu (poolctl status web shows them`},
		{map[string]any{"name": "web", "keys": []any{"max_cpu.x"}}, ErrnoBadProperty, `reset: watcher "web" has no option "max_cpu.x"`},
		{map[string]any{"name": "web", "keys": []any{"rlimits."}}, ErrnoBadProperty, `reset: watcher "web": rlimits has no entry "" (nothing was changed); its entries are: `},
		{map[string]any{"name": "web", "keys": []any{"hooks.nosuch"}}, ErrnoBadProperty, `reset: watcher "web": hooks has no entry "nosuch" (nothing was changed); its entries are: before_start`},
		{map[string]any{"name": "web", "keys": []any{"rlimits.nofile"}}, ErrnoFailed, `runs as the config file gives it`},
		{map[string]any{"name": "web", "keys": []any{7}}, ErrnoBadProperty, `reset: property "keys" must be a list of strings`},
		{map[string]any{"name": "nope"}, ErrnoBadProperty, `program nope not found`},
	} {
		r := h.a.Do(context.Background(), Request{Command: "reset", Properties: c.props})
		if r["errno"] != c.errno || !strings.Contains(fmt.Sprint(r["reason"]), c.words) {
			t.Errorf("reset %v: %v, want errno %d and a reason with %q", c.props, r, c.errno, c.words)
		}
	}
	if got := overridesOf(t, h); got["max_cpu"] != "40 (file: 0) by set" {
		t.Errorf("status web after the refused resets: overrides %v, want max_cpu still 40", got)
	}
	// The transports refuse what Role.Allows does not allow (the
	// end-to-end test runs one as a read-only user).
	if RoleReadOnly.Allows("reset") {
		t.Errorf("a read-only caller may run reset; want it refused, as set")
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
