package arbiter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
)

// circusHooks maps, in place, the hooks.NAME options circusd's set takes
// (circusctl set web hooks.before_start VALUE) onto poold's hooks, the
// watcher's other hooks kept, the way the circus.ini translator maps
// hooks.NAME: a program path (with its arguments) is a command hook, an
// empty value removes the hook. A Python callable (a dotted name, which
// circusd imports) and Circus's ignore_failure (", true") have no poold
// equivalent and are refused, saying what to write.
func circusHooks(out map[string]any, base configs.Watcher) error {
	baseHooks := make(map[string]any, len(base.Hooks))
	for name, cmd := range base.Hooks {
		baseHooks[name] = cmd
	}
	keys, hooks, given, err := foldPrefixed(out, "hooks.", "hooks", baseHooks, `{"before_start": "/usr/local/bin/check-db"}`)
	if err != nil || keys == nil {
		return err
	}
	for _, k := range keys {
		name := strings.TrimPrefix(k, "hooks.")
		if _, dup := given[name]; dup {
			return fmt.Errorf("%s and hooks.%s both set the same hook; give one of them", k, name)
		}
		cmd, err := circusHook(k, name, out[k])
		if err != nil {
			return err
		}
		delete(out, k)
		if cmd == "" {
			delete(hooks, name)
			continue
		}
		hooks[name] = cmd
	}
	out["hooks"] = hooks
	return nil
}

// circusHook reads one hooks.NAME value as circusd does: "TARGET" or
// "TARGET, IGNORE_FAILURE".
func circusHook(key, name string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: must be a string, the hook's command line (/path/to/program args), got %v", key, v)
	}
	if !slices.Contains(configs.HookNames, name) {
		return "", fmt.Errorf("%s: poold has no %s hook; hooks: %s", key, name, strings.Join(configs.HookNames, ", "))
	}
	target, flag, hasFlag := strings.Cut(s, ",")
	target = strings.TrimSpace(target)
	if hasFlag {
		if ignore, err := circusBool(key, strings.TrimSpace(flag)); err != nil || ignore {
			return "", fmt.Errorf("%s: ignore_failure (%q after the comma) has no poold equivalent: a failing %s stops what it runs for; leave it out", key, strings.TrimSpace(flag), name)
		}
	}
	if target != "" && !strings.Contains(target, "/") {
		return "", fmt.Errorf("%s: %s is a Python callable, which poold cannot run; write it as a program and give its path (%s /path/to/program args): poold runs it with the event in POOLD_HOOK, POOLD_WATCHER, POOLD_PID and POOLD_WID", key, target, key)
	}
	return target, nil
}
