package launch

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// DefaultPath is a worker's PATH when poold has none.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// loginVars describe a process's user: a worker with a uid gets its
// user's (configs.Watcher.LoginEnv), never poold's.
var loginVars = []string{"HOME", "USER", "LOGNAME", "SHELL"}

// Env is a worker's environment before variables are replaced: with
// copy_env poold's own environment (without the LISTEN_* and NOTIFY_SOCKET
// meant for poold itself, nor any POOLD_* variable: those are poold's
// config overrides, such as POOLD_WEB_TOKEN, which would hand a worker of
// another user the control of poold), else PATH alone (poold's, or DefaultPath), so
// that commands are found as in a login shell; then each entry of env,
// replacing an inherited variable of the same name. With uid, HOME, USER,
// LOGNAME and SHELL are that user's (configs.Watcher.LoginEnv), not poold's,
// before env. Names are
// case-sensitive ("Path" does not replace "PATH").
func Env(spec configs.Watcher) []string {
	env := inheritedEnv(spec)
	for _, kv := range spec.Env {
		env = setEnv(env, kv)
	}
	return env
}

// inheritedEnv is Env without the entries of env: what a worker would
// inherit from poold, with its user's login variables.
func inheritedEnv(spec configs.Watcher) []string {
	env := baseEnv(spec.CopyEnv)
	if spec.UID != "" {
		// poold's own HOME, USER and LOGNAME describe another user.
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return slices.Contains(loginVars, k)
		})
		env = append(env, spec.LoginEnv()...)
	}
	return env
}

// expandEnv is Env(spec) with the variables of each entry of env
// replaced. vars gives every variable but env.KEY, which is KEY's value in
// the worker's environment, its own variables replaced in turn; an entry
// that refers to its own KEY (PATH=/opt/bin:$(pool.env.PATH)), or to an
// entry that refers back to it, gets KEY's inherited value there
// (inheritedEnv), as a shell's PATH=/opt/bin:$PATH does
// (configs.ResolveEnv).
func expandEnv(spec configs.Watcher, vars map[string]string) []string {
	env := inheritedEnv(spec)
	inherited := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := inherited[k]; !dup {
			inherited[k] = v
		}
	}
	done := configs.ResolveEnv(spec.Env, inherited, func(x string) (string, bool) {
		v, ok := vars[x]
		return v, ok
	}, nil) // an env.KEY with no value stays as written: the load warned of it
	for _, kv := range spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, k+"="+done[k])
	}
	return env
}

func baseEnv(copyEnv bool) []string {
	if copyEnv {
		var env []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "POOLD_") {
				continue
			}
			env = append(env, kv)
		}
		return env
	}
	p := os.Getenv("PATH")
	if p == "" {
		p = DefaultPath
	}
	return []string{"PATH=" + p}
}

// setEnv sets kv ("KEY=VALUE") in env, replacing the first entry of KEY
// and dropping any later one, so the worker sees one value whatever reads
// it (getenv returns the first entry, os/exec keeps the last).
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	out := env[:0]
	set := false
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			if !set {
				out = append(out, kv)
				set = true
			}
			continue
		}
		out = append(out, e)
	}
	if !set {
		out = append(out, kv)
	}
	return out
}

// Vars are the $(pool.X) variables of slot wid (PROTOCOL.md section 4):
// wid, name, uid, working_dir (dir; "" means the configured working_dir),
// sockets.NAME (the fd of each socket of h) and env.KEY (each entry of
// the worker's environment, its variables replaced: expandEnv).
func Vars(spec configs.Watcher, h Handoff, wid int, dir string) map[string]string {
	vars, _ := varsAndEnv(spec, h, wid, dir)
	return vars
}

// varsAndEnv is Vars and the worker's environment it took env.KEY from
// (expandEnv), which is the one expandEnv(spec, vars) gives again:
// expandEnv reads no env.KEY from vars. Build and ProbeEnv take it from
// here, not from a second expandEnv, which a spawn paid for (issue 18).
func varsAndEnv(spec configs.Watcher, h Handoff, wid int, dir string) (map[string]string, []string) {
	if dir == "" {
		dir = spec.WorkingDir
	}
	vars := map[string]string{
		"wid": strconv.Itoa(wid), "name": spec.Name, "working_dir": dir, "uid": spec.UID,
	}
	for name, fd := range h.FDs {
		vars["sockets."+name] = strconv.Itoa(fd)
	}
	env := expandEnv(spec, vars)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars["env."+k] = v
	}
	return vars, env
}

// ProbeEnv is the environment of an exec health check of the worker pid in
// slot wid: the worker's environment (Env, variables replaced as for the
// worker, working_dir being the directory it started in) with POOLD_PID,
// POOLD_WID and POOLD_WATCHER.
func ProbeEnv(spec configs.Watcher, h Handoff, wid, pid int) []string {
	dir, err := Dir(spec)
	if err != nil {
		dir = spec.WorkingDir
	}
	_, env := varsAndEnv(spec, h, wid, dir)
	env = setEnv(env, "POOLD_PID="+strconv.Itoa(pid))
	env = setEnv(env, "POOLD_WID="+strconv.Itoa(wid))
	return setEnv(env, "POOLD_WATCHER="+spec.Name)
}
