package configs

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// A $(pool.env.KEY) with no value (KEY neither in env nor inherited) is
// left as written, as Circus leaves an unknown $(circus.…): the worker
// gets the reference literally. That is kept for compatibility, but it
// is almost always a mistake, so a load (and --check) warns about it,
// naming the key and the reference.

// ResolveEnv returns the value of each entry of env ("KEY=VALUE", by
// KEY) with its variables replaced: env.KEY by KEY's value in the
// worker's environment, its own variables replaced in turn; an entry
// that refers to its own KEY (PATH=/opt/bin:$(pool.env.PATH)), or to an
// entry that refers back to it, gets KEY's value in inherited there, as
// a shell's PATH=/opt/bin:$PATH does. vars gives every other variable.
// A reference that has no value stays as written; miss, if not nil, is
// told of each (the index of its entry in env, and X: "env.NOPE").
func ResolveEnv(env []string, inherited map[string]string, vars func(x string) (string, bool), miss func(i int, x string)) map[string]string {
	raw := make(map[string]string, len(env))
	at := make(map[string]int, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		raw[k], at[k] = v, i
	}
	done := make(map[string]string, len(raw))
	busy := make(map[string]bool)
	var resolve func(key string) string
	resolve = func(key string) string {
		if v, ok := done[key]; ok {
			return v
		}
		busy[key] = true
		v := ExpandFunc(raw[key], func(x string) (string, bool) {
			name, isEnv := strings.CutPrefix(x, "env.")
			if !isEnv {
				return vars(x)
			}
			if _, ok := raw[name]; ok && !busy[name] {
				return resolve(name), true
			}
			v, ok := inherited[name]
			if !ok && miss != nil {
				miss(at[key], x)
			}
			return v, ok
		})
		delete(busy, key)
		done[key] = v
		return v
	}
	for _, kv := range env { // in order: it decides which entry of a cycle inherits
		k, _, _ := strings.Cut(kv, "=")
		resolve(k)
	}
	return done
}

// loginVars describe a process's user: a worker with a uid gets its
// user's (LoginEnv), never poold's.
var loginVars = []string{"HOME", "USER", "LOGNAME", "SHELL"}

// inheritedNames are the variables a worker of w inherits, as
// launch.Env gives them (values are not needed here): with copy_env
// poold's environment less LISTEN_*, NOTIFY_SOCKET and POOLD_*, else
// PATH alone; with uid the user's login variables instead of poold's.
func inheritedNames(w *Watcher) map[string]string {
	names := map[string]string{"PATH": ""}
	if w.CopyEnv {
		names = map[string]string{}
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "POOLD_") {
				continue
			}
			k, _, _ := strings.Cut(kv, "=")
			names[k] = ""
		}
	}
	if w.UID != "" {
		for _, k := range loginVars {
			delete(names, k)
		}
		for _, kv := range w.LoginEnv() {
			k, _, _ := strings.Cut(kv, "=")
			names[k] = ""
		}
	}
	return names
}

// warnUnsetEnvRefs warns of each $(pool.env.KEY) in cmd, args, env and
// the probe keys that the worker would get as written.
func warnUnsetEnvRefs(ps *problems, k func(string) string, w *Watcher) {
	inherited := inheritedNames(w)
	why := func(name string) string {
		switch {
		case w.CopyEnv:
			return fmt.Sprintf("%s is not set in env, nor in poold's environment (copy_env)", name)
		case w.UID != "" && slices.Contains(loginVars, name):
			return fmt.Sprintf("%s is not set in env, and user %q has none", name, w.UID)
		default:
			return fmt.Sprintf("%s is not set in env, and without copy_env a worker inherits only PATH", name)
		}
	}
	said := map[string]bool{}
	warn := func(key, text, x string) {
		if said[key+" "+x] {
			return
		}
		said[key+" "+x] = true
		name := strings.TrimPrefix(x, "env.")
		ref := x
		for _, r := range varRefs(text) {
			if r.name == x {
				ref = r.text
				break
			}
		}
		ps.warn(key, "refers to %s, which has no value: %s; the worker gets %q as written (as Circus leaves an unknown $(circus.…)); set %s in env, or remove the reference", ref, why(name), ref, name)
	}
	ResolveEnv(w.Env, inherited, func(string) (string, bool) { return "", true }, func(i int, x string) {
		warn(fmt.Sprintf("%s[%d]", k("env"), i), w.Env[i], x)
	})
	set := make(map[string]bool, len(w.Env))
	for _, kv := range w.Env {
		name, _, _ := strings.Cut(kv, "=")
		set[name] = true
	}
	check := func(key, text string) {
		for _, r := range varRefs(text) {
			name, isEnv := strings.CutPrefix(r.name, "env.")
			if _, ok := inherited[name]; isEnv && !set[name] && !ok {
				warn(key, text, r.name)
			}
		}
	}
	check(k("cmd"), w.Cmd)
	for i, a := range w.Args {
		check(fmt.Sprintf("%s[%d]", k("args"), i), a)
	}
	for _, p := range []struct{ key, val string }{{"ready_address", w.ReadyAddress}, {"ready_url", w.ReadyURL},
		{"health_address", w.HealthAddress}, {"health_url", w.HealthURL}, {"health_cmd", w.HealthCmd}} {
		check(k(p.key), p.val)
	}
}
