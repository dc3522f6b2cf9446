package configs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// HookNames are the lifecycle points a watcher's hooks may name, as in
// Circus. A before_start or before_spawn hook that fails (exits non-zero,
// cannot run, or outlives hook_timeout) stops that start or spawn; a
// failing after_start stops the watcher again, as Circus does; the others
// only log and publish hook_failure.
var HookNames = []string{
	"before_start", "after_start", "before_stop", "after_stop",
	"before_spawn", "after_spawn", "before_reap", "after_reap",
}

// hookFields are the keys of a watcher's command hooks. They are kept out
// of decode.go's table (init appends them) so that hook keys live in one
// place.
var hookFields = []field[Watcher]{
	{key: "hooks",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if m, ok := d.hooks(k, raw); ok {
				w.Hooks = m
			}
		},
		wire: func(w *Watcher) any {
			out := make(map[string]any, len(w.Hooks))
			for name, cmd := range w.Hooks {
				out[name] = cmd
			}
			return out
		},
	},
	durationField("hook_timeout", func(w *Watcher) *time.Duration { return &w.HookTimeout }, true),
}

func init() { watcherFields = append(watcherFields, hookFields...) }

// hooks decodes a table hook name -> command line, e.g.
// hooks = { before_start = "/usr/local/bin/migrate --check" }.
func (d *decoder) hooks(key string, raw any) (map[string]string, bool) {
	m, ok := raw.(map[string]any)
	if ev, isEnv := raw.(envValue); isEnv {
		if err := json.Unmarshal([]byte(ev.text), &m); err != nil {
			d.bad(key, raw, `must be a JSON object such as {"before_start": "/usr/local/bin/check-db"}: %v`, err)
			return nil, false
		}
		ok = true
	}
	if !ok {
		d.bad(key, raw, `must be a table of hook name to command, e.g. hooks = { before_start = "/usr/local/bin/check-db" }, got %s`, describe(raw))
		return nil, false
	}
	out := make(map[string]string, len(m))
	good := true
	for _, name := range sortedKeys(m) {
		k := key + "." + name
		lname := strings.ToLower(name)
		if !slices.Contains(HookNames, lname) {
			msg := fmt.Sprintf("unknown hook %q; valid: %s", name, strings.Join(HookNames, ", "))
			if s := closest(lname, HookNames); s != "" {
				msg = fmt.Sprintf("unknown hook %q; did you mean %q?", name, s)
			}
			d.bad(k, raw, "%s", msg)
			good = false
			continue
		}
		cmd, isStr := m[name].(string)
		if !isStr {
			d.bad(k, raw, "must be a command line (a string), got %s", describe(m[name]))
			good = false
			continue
		}
		words, err := SplitCommand(cmd)
		switch {
		case strings.TrimSpace(cmd) == "":
			d.bad(k, raw, "must not be empty; remove the hook instead")
			good = false
		case err != nil:
			d.bad(k, raw, "%v (got %q): quote a path that contains spaces", err, cmd)
			good = false
		case words[0] == "":
			d.bad(k, raw, "the program name (the first word) is empty (got %q)", cmd)
			good = false
		default:
			out[lname] = cmd
		}
	}
	if len(out) == 0 {
		return nil, good
	}
	return out, good
}
